"""Adaptive write concurrency (pure): how the allowance moves with simulated servers; and
--max-rate's even pace (Cadence) on a fake clock."""

from __future__ import annotations

import dataclasses
import itertools
import math
import random
from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pfx.server.pace import CEILING, Cadence, Pace


@dataclass
class Simulated:
    """A destination: `delay` seconds away, `service` seconds per write, `capacity` writes at
    once (more queue), optionally a request-rate limit (429 above it, as Cloud does) and
    pushback whenever more than `locks_above` writes are in flight (SQLite's locked 503)."""

    delay: float = 0.001
    service: float = 0.01
    capacity: int = 1000
    rate: float | None = None
    locks_above: int | None = None
    # Each answer's time varies by up to this share either way (seeded, repeatable).
    jitter: float = 0.0
    rng: random.Random = dataclasses.field(default_factory=lambda: random.Random(11))

    def latency(self, in_flight: int, cost: float = 1.0) -> float:
        spread = 1.0 + self.jitter * (2.0 * self.rng.random() - 1.0)
        return (self.delay + cost * self.service * max(1.0, in_flight / self.capacity)) * spread

    def pushes_back(self, in_flight: int) -> bool:
        if self.locks_above is not None and in_flight > self.locks_above:
            return True
        return self.rate is not None and in_flight / self.latency(in_flight) > self.rate


def drive(
    pace: Pace, server: Simulated, writes: int, costs: tuple[float, ...] = (1.0,)
) -> list[int]:
    """The allowance before each of `writes` answers from `server`; writes come in phases of
    kinds costing `costs` times the service time each (like variables, then deployments)."""
    seen = []
    for i in range(writes):
        allowed = pace.allowed()
        seen.append(allowed)
        phase = i * len(costs) // writes
        if server.pushes_back(allowed):
            pace.on_pushback()
        else:
            pace.on_success(server.latency(allowed, costs[phase]), kind=str(phase))
    return seen


def test_sqlite_like_server_settles_at_one_write() -> None:
    """A server that serialises writes (two in flight take twice as long) settles at one."""
    seen = drive(Pace(ceiling=8), Simulated(capacity=1), 3000)
    assert seen[-1] == 1
    assert max(seen) <= 2
    assert sum(1 for a in seen[1000:] if a > 1) < 40


def test_locked_sqlite_settles_at_one_write() -> None:
    """A server that answers 503 to any second write in flight is probed rarely, then left."""
    seen = drive(Pace(ceiling=8), Simulated(capacity=1, locks_above=1), 3000)
    assert seen[-1] == 1
    assert sum(1 for a in seen[1000:] if a > 1) < 40


def test_far_away_fast_server_grows_to_the_ceiling_quickly() -> None:
    """100 ms away, 5 ms of server time, no pushback: latency is the limit, so grow."""
    seen = drive(Pace(ceiling=8), Simulated(delay=0.1, service=0.005), 300)
    assert seen.index(8) < 60
    assert seen[-1] == 8


def test_jitter_and_costlier_kinds_do_not_stop_growth_far_away() -> None:
    """Answers varying by 30% and a phase of writes ten times costlier still grow to the
    ceiling 40 ms away, where latency is the limit."""
    server = Simulated(delay=0.04, service=0.002, jitter=0.3)
    seen = drive(Pace(ceiling=8), server, 2000, costs=(1.0, 10.0))
    assert seen[999] == 8 and seen[-1] == 8


def test_jittery_sqlite_stays_near_one() -> None:
    """A serialising server with 30% jitter and costlier later writes stays near one."""
    server = Simulated(capacity=1, jitter=0.3)
    seen = drive(Pace(ceiling=8), server, 4000, costs=(1.0, 5.0))
    tail = seen[500:]
    assert sum(tail) / len(tail) < 1.3


def test_roomy_server_grows_to_the_ceiling_no_further() -> None:
    """A server that keeps up lets the allowance grow to the user's ceiling, no further."""
    seen = drive(Pace(ceiling=6), Simulated(), 2000)
    assert seen[-1] == 6 and max(seen) == 6


def test_server_with_four_slots_settles_near_four() -> None:
    """A server with four parallel slots: more in flight only queue, so stop near four."""
    seen = drive(Pace(ceiling=16), Simulated(capacity=4), 3000)
    tail = seen[1000:]
    assert min(tail) >= 3 and max(tail) <= 5


def test_rate_limit_backs_off_but_keeps_the_gain() -> None:
    """429 above 40 requests/s at 100 ms: settle just under the limit (4 in flight), not at 1."""
    server = Simulated(delay=0.1, service=0.001, rate=40.0)
    seen = drive(Pace(ceiling=16), server, 3000)
    tail = seen[1000:]
    assert min(tail) >= 2
    assert sum(tail) / len(tail) >= 3.0
    assert sum(1 for a in tail if server.pushes_back(a)) < 40


def test_transient_pushback_does_not_cap_for_good() -> None:
    """A burst of 503s to the writes in flight halves the allowance once; it grows back."""
    pace = Pace(ceiling=8)
    drive(pace, Simulated(delay=0.05), 200)
    assert pace.allowed() == 8
    for _ in range(8):
        pace.on_pushback()
    assert pace.allowed() == 4
    seen = drive(pace, Simulated(delay=0.05), 2000)
    assert seen[-1] == 8


def test_backoff_grows_and_honours_retry_after() -> None:
    """Retries wait longer each time, capped, and exactly as long as Retry-After says."""
    waits = [Pace.backoff(n) for n in range(1, 15)]
    assert waits == sorted(waits) and waits[-1] == 8.0 and waits[0] < 0.1
    assert Pace.backoff(1, retry_after=3.0) == 3.0


def test_default_ceiling_hides_a_far_away_round_trip() -> None:
    """100 ms away, the default ceiling lets writes pass eight in flight (eight cap a run at
    ~80 writes/s there), and growth by a quarter of the allowance gets there early."""
    pace = Pace()
    assert pace.ceiling == CEILING >= 32
    seen = drive(pace, Simulated(delay=0.1, service=0.002), 1000)
    assert seen.index(CEILING) < 200
    assert seen[-1] == CEILING


def test_cloud_rate_limit_far_away_settles_just_under_it() -> None:
    """150 requests/s allowed, 100 ms away (the bench's Cloud-like row): 15 in flight is the
    most that passes; the allowance settles near it after the 429s, not back at a few."""
    server = Simulated(delay=0.1, service=0.001, rate=150.0, jitter=0.1)
    seen = drive(Pace(), server, 4000)
    tail = seen[1000:]
    assert sum(tail) / len(tail) >= 12.0
    assert max(tail) <= 16
    assert sum(1 for a in tail if server.pushes_back(a)) < 40


def test_cloud_rate_limit_near_settles_just_under_it() -> None:
    """The same limit 40 ms away: about six in flight pass; the allowance stays near them."""
    server = Simulated(delay=0.04, service=0.001, rate=150.0)
    seen = drive(Pace(), server, 4000)
    tail = seen[1000:]
    assert sum(tail) / len(tail) >= 4.5
    assert sum(1 for a in tail if server.pushes_back(a)) < 40


def test_sqlite_with_the_default_ceiling_still_settles_at_one() -> None:
    """The higher default ceiling changes nothing for a server that serialises writes."""
    seen = drive(Pace(), Simulated(capacity=1, jitter=0.3), 3000)
    tail = seen[1000:]
    assert sum(tail) / len(tail) < 1.3 and max(tail) <= 2


# --- --max-rate: Cadence, on a fake clock -------------------------------------------------------


def _starts(cap: int, arrivals: list[float]) -> list[float]:
    """When requests arriving (wanting to start) at `arrivals` start under a cap of `cap` a
    minute: each books its start on the clock it arrives at, as Api.request does."""
    cadence = Cadence(cap)
    return [t + cadence.book(t) for t in sorted(arrivals)]


def _most_within(starts: list[float], window: float) -> int:
    """The most starts inside any half-open window of `window` seconds (to a nanosecond:
    60.0 + 1e-219 is 60.0 in floats, so starts exactly one window apart may round closer)."""
    best = first = 0
    for last, t in enumerate(starts):
        while starts[first] <= t - window + 1e-9:
            first += 1
        best = max(best, last - first + 1)
    return best


@settings(max_examples=200, deadline=None)
@given(
    cap=st.integers(min_value=1, max_value=6000),
    arrivals=st.lists(st.floats(min_value=0, max_value=600, allow_nan=False), max_size=400),
)
def test_max_rate_never_exceeds_the_cap_in_any_window(cap: int, arrivals: list[float]) -> None:
    """However requests arrive (bursts of concurrent writers, idle stretches), no minute holds
    more than the cap and no second more than its sixtieth (rounded up): evenly paced, no
    burst, and no request starts before it arrives."""
    starts = _starts(cap, arrivals)
    assert all(s >= a for s, a in zip(starts, sorted(arrivals), strict=True))
    assert all(b - a >= 60 / cap - 1e-9 for a, b in itertools.pairwise(starts))
    if starts:
        assert _most_within(starts, 60.0) <= cap
        assert _most_within(starts, 1.0) <= math.ceil(cap / 60)


def test_max_rate_is_reached_when_requests_keep_coming() -> None:
    """Requests always waiting (a thousand at once) start exactly at the cap's pace."""
    starts = _starts(600, [0.0] * 1000)
    achieved = (len(starts) - 1) / (starts[-1] - starts[0]) * 60
    assert achieved == pytest.approx(600)


def test_idle_time_is_not_saved_up_for_a_burst() -> None:
    """After ten idle minutes, a burst of requests is paced as before, not let through."""
    starts = _starts(120, [0.0, 600.0, 600.0, 600.0])
    assert starts == [0.0, 600.0, 600.5, 601.0]


@settings(max_examples=200, deadline=None)
@given(
    cap=st.integers(min_value=60, max_value=6000),
    lateness=st.lists(st.floats(min_value=0, max_value=0.5, allow_nan=False), max_size=200),
)
def test_a_late_start_moves_the_next_one(cap: int, lateness: list[float]) -> None:
    """Requests that wake up later than booked (a busy event loop) still start at least
    60/cap seconds apart, as Api takes turns: book, sleep, then say when it really started."""
    cadence = Cadence(cap)
    now, starts = 0.0, []
    for late in lateness:
        now += cadence.book(now) + late
        cadence.started(now)
        starts.append(now)
    assert all(b - a >= 60 / cap - 1e-9 for a, b in itertools.pairwise(starts))
