"""Retention, pure: which snapshots a `--keep-*` policy keeps, with the reasons (restic's
`forget` semantics), as a function of the snapshots' times alone.

Each rule keeps the newest snapshot of each of its last N periods that have a snapshot
(`--keep-last N`: the newest N snapshots); a snapshot kept by any rule stays. Periods are
calendar ones in UTC: hours :00-:59, days 00:00-23:59, ISO weeks Monday to Sunday, months.
The newest snapshot of each source is always kept, and an empty policy keeps everything.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

Bucket = Callable[[datetime], Hashable]


@dataclass(frozen=True)
class Policy:
    """How many snapshots each rule keeps; 0: the rule is off."""

    last: int = 0
    hourly: int = 0
    daily: int = 0
    weekly: int = 0
    monthly: int = 0

    @property
    def empty(self) -> bool:
        return not any((self.last, self.hourly, self.daily, self.weekly, self.monthly))

    def describe(self) -> str:
        """`--keep-daily 7 --keep-weekly 4` (or `no retention policy`)."""
        parts = [f"--keep-{name} {n}" for name, n, _ in self.rules() if n]
        return " ".join(parts) if parts else "no retention policy"

    def rules(self) -> list[tuple[str, int, Bucket | None]]:
        """(name, count, period of a UTC time); --keep-last counts snapshots, not periods."""
        return [
            ("last", self.last, None),
            ("hourly", self.hourly, lambda t: (t.year, t.month, t.day, t.hour)),
            ("daily", self.daily, lambda t: (t.year, t.month, t.day)),
            ("weekly", self.weekly, lambda t: t.isocalendar()[:2]),
            ("monthly", self.monthly, lambda t: (t.year, t.month)),
        ]


@dataclass(frozen=True)
class Snapshot:
    """What retention needs of a snapshot: its id, time (aware, any zone) and source."""

    id: str
    time: datetime
    source: str = ""


@dataclass(frozen=True)
class Decision:
    """Keep or forget one snapshot, and why it is kept (empty when forgotten)."""

    id: str
    time: datetime
    keep: bool
    reasons: tuple[str, ...] = field(default=())


def apply_policy(snapshots: Sequence[Snapshot], policy: Policy) -> list[Decision]:
    """A decision for every snapshot, newest first (see module doc); per source."""
    by_source: dict[str, list[Snapshot]] = {}
    for snap in snapshots:
        by_source.setdefault(snap.source, []).append(snap)
    decisions: list[Decision] = []
    for group in by_source.values():
        decisions += _apply(group, policy)
    return sorted(decisions, key=lambda d: (d.time, d.id), reverse=True)


def _apply(group: list[Snapshot], policy: Policy) -> list[Decision]:
    ordered = sorted(group, key=lambda s: (s.time, s.id), reverse=True)
    reasons: dict[str, list[str]] = {s.id: [] for s in ordered}
    if ordered:
        reasons[ordered[0].id].append("newest")
    if policy.empty:
        for snap in ordered:
            reasons[snap.id].append("no retention policy")
    for name, count, bucket in policy.rules():
        if count <= 0:
            continue
        left = count
        last: Hashable = object()
        for snap in ordered:
            if left == 0:
                break
            value = snap.id if bucket is None else bucket(snap.time.astimezone(UTC))
            if value != last:
                reasons[snap.id].append(f"{name} snapshot")
                left -= 1
                last = value
    return [Decision(s.id, s.time, bool(reasons[s.id]), tuple(reasons[s.id])) for s in ordered]
