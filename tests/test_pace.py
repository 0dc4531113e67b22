"""Adaptive write concurrency (pure): how the allowance moves with the server's answers."""

from __future__ import annotations

from pfx.pace import Pace


def drive(pace: Pace, capacity: int, writes: int) -> list[int]:
    """Simulate a server that pushes back whenever more than `capacity` writes are in flight."""
    seen = []
    for _ in range(writes):
        allowed = pace.allowed()
        seen.append(allowed)
        if allowed > capacity:
            pace.on_pushback()
        else:
            pace.on_success(0.01)
    return seen


def test_sqlite_like_server_settles_at_one_write() -> None:
    """A server that takes one write at a time is probed once, then never pushed again."""
    pace = Pace(ceiling=8)
    seen = drive(pace, capacity=1, writes=2000)
    assert seen[-1] == 1
    assert sum(1 for a in seen if a > 1) == 1


def test_roomy_server_grows_to_the_ceiling() -> None:
    """A server that keeps up lets the allowance grow to the user's ceiling, no further."""
    pace = Pace(ceiling=6)
    seen = drive(pace, capacity=100, writes=2000)
    assert seen[-1] == 6 and max(seen) == 6


def test_slow_answers_stop_growth() -> None:
    """Answers slower than `slow` keep the allowance where it is."""
    pace = Pace(ceiling=8)
    for _ in range(1000):
        pace.on_success(2.0)
    assert pace.allowed() == 1


def test_backoff_grows_and_honours_retry_after() -> None:
    """Retries wait longer each time, capped, and exactly as long as Retry-After says."""
    waits = [Pace.backoff(n) for n in range(1, 15)]
    assert waits == sorted(waits) and waits[-1] == 8.0 and waits[0] < 0.1
    assert Pace.backoff(1, retry_after=3.0) == 3.0
