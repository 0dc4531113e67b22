"""Adaptive write concurrency, pure: grow while more in flight means more done, back off on
pushback.

The allowance moves once per window (as many answers as writes allowed): answers close to
their kind's unqueued time (see RECENT) mean nothing queues at the server (a far-away
destination is latency-bound: grow); answers that slow down in step with the allowance mean
the server serialises them (SQLite: two writes in flight take twice as long as one, so
shrink back). 429/503 halve the allowance once per window; growth then resumes to just below
where it broke, and probes past that point only after a wait that doubles with every failed
probe, so a SQLite destination settles at one write in flight while a rate-limited one keeps
what it gained. Far from its destination, growth steps by a quarter of the allowance (slow
start), so a Cloud-like round trip is hidden within a few windows. The user's `--concurrency`
is the ceiling (CEILING by default).

`Cadence` is the other half of the pace, the user's: `--max-rate N` requests a minute at
most, every request (reads, writes, retries) starting 60/N seconds after the one before.
"""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass, field

# Writes waiting at the server (Little's law: allowance x (1 - fastest / recent)) below which
# one more in flight is free throughput, and above which the last one bought little; a share
# of the allowance at high allowances, where jitter alone makes some answers slower.
GROW_BELOW = (0.5, 0.06)
SHRINK_ABOVE = (0.75, 0.15)
# Answers averaged before the allowance may move (at least; or one per write allowed).
MIN_WINDOW = 4
# Recent answers kept per kind of write. The median of those answered at the lowest allowance
# among them is "unqueued" for that kind: a median, as jitter would make most answers look
# queued next to the minimum; the lowest allowance, as answers at a queued allowance would
# soon make queueing look normal.
RECENT = 64
# Windows to wait before probing past a point that broke, doubled per failed probe, capped.
MAX_WAIT = 64
# The default ceiling of writes in flight: 100 ms away, 8 in flight cap a run at ~80 writes/s
# however fast the server; the queue rule, not the ceiling, finds where a server saturates.
CEILING = 32
# Growth steps by allowance // GROW_STEP (at least one) while nothing has broken yet.
GROW_STEP = 4
# A Prefect id inside a path: left out of a write's kind (see write_kind).
_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


@dataclass
class Pace:
    """The current allowance of concurrent writes and the rule that moves it."""

    ceiling: int = CEILING
    limit: int = 1
    # Recent answer times (seconds) per kind of write: writes of different kinds differ in
    # cost (a variable vs a deployment), so each is compared with its own kind.
    recent: dict[str, deque[tuple[int, float]]] = field(default_factory=dict)
    # Answers in the window under way, and the sum of each one's time over its kind's fast.
    answers: int = 0
    total: float = 0.0
    # Answers since the last cut: pushbacks of writes already in flight then are not new news.
    since_cut: int = 0
    cut_at: int = 0
    # Where growth last broke, how many windows to wait before probing it again, waited so far.
    broke_at: int | None = None
    wait: int = 0
    waited: int = 0

    def allowed(self) -> int:
        return max(1, min(self.ceiling, self.limit))

    def on_success(self, seconds: float, kind: str = "") -> None:
        """One write of `kind` answered in `seconds`; may move the allowance at the end of a
        window."""
        self.since_cut += 1
        seconds = max(seconds, 1e-6)
        times = self.recent.setdefault(kind, deque(maxlen=RECENT))
        times.append((self.allowed(), seconds))
        self.answers += 1
        self.total += seconds / _unqueued(times)
        if self.answers < max(MIN_WINDOW, self.allowed()):
            return
        slower = max(1.0, self.total / self.answers)
        self.answers, self.total = 0, 0.0
        allowed = self.allowed()
        queued = allowed * (1.0 - 1.0 / slower)
        if queued > max(SHRINK_ABOVE[0], SHRINK_ABOVE[1] * allowed) and allowed > 1:
            self._broke(allowed)
            self.limit = allowed - 1
        elif queued < max(GROW_BELOW[0], GROW_BELOW[1] * allowed):
            self._grow()

    def on_pushback(self) -> None:
        """The server refused a write for now (429, 503): halve, once per window of writes."""
        self.since_cut += 1
        if self.cut_at and self.since_cut < self.cut_at:
            return
        self._broke(self.allowed())
        self.cut_at = self.allowed()
        self.since_cut = 0
        self.limit = max(1, self.allowed() // 2)
        self.answers, self.total = 0, 0.0

    def _grow(self) -> None:
        if self.allowed() >= self.ceiling:
            return
        if self.broke_at is not None and self.allowed() + 1 >= self.broke_at:
            self.waited += 1
            if self.waited < self.wait:
                return
            self.waited = 0
        step = 1 if self.broke_at is not None else max(1, self.allowed() // GROW_STEP)
        self.limit = min(self.ceiling, self.allowed() + step)
        if self.broke_at is not None and self.limit > self.broke_at:
            # Past the old break point without trouble: it no longer holds.
            self.broke_at, self.wait = None, 0

    def _broke(self, at: int) -> None:
        if at <= 1:
            return
        self.wait = min(MAX_WAIT, max(1, self.wait * 2)) if self.broke_at == at else 1
        self.broke_at = at
        self.waited = 0

    @staticmethod
    def backoff(attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait before retry `attempt` (1-based); honours Retry-After."""
        if retry_after is not None:
            return min(60.0, max(0.0, retry_after))
        return float(min(8.0, 0.05 * 2.0 ** (attempt - 1)))


@dataclass
class Cadence:
    """At most `per_minute` requests a minute, evenly spaced (--max-rate): each request
    starts at least 60 / per_minute seconds after the one before, so no window of any length
    holds more than its share plus the request that opens it (no burst: a second holds at most
    its sixtieth, rounded up). Prefect Cloud limits requests per account, shared with every
    worker: a migration that keeps under its cap leaves them room."""

    per_minute: float
    next_at: float = float("-inf")

    def book(self, now: float) -> float:
        """Take the next start; returns the seconds to wait from `now` until it."""
        at = max(now, self.next_at)
        self.next_at = at + 60.0 / self.per_minute
        return at - now

    def started(self, now: float) -> None:
        """A booked request really started at `now`: one that started later than booked (the
        event loop was busy) moves the next start, so starts are spaced as they happen, not
        only as booked."""
        self.next_at = max(self.next_at, now + 60.0 / self.per_minute)


def _unqueued(times: deque[tuple[int, float]]) -> float:
    """The median time of the answers taken at the lowest allowance among `times`."""
    lowest = min(allowed for allowed, _ in times)
    at_lowest = sorted(seconds for allowed, seconds in times if allowed == lowest)
    return max(at_lowest[len(at_lowest) // 2], 1e-6)


def write_kind(method: str, path: str) -> str:
    """A write's kind for pacing: its method, the path's first part and, for nested paths
    (`/deployments/ID/schedules`), its last; ids and names between are left out."""
    parts = _ID.sub("", path.split("?", 1)[0]).strip("/").split("/")
    return " ".join([method, parts[0], *parts[2:][-1:]])
