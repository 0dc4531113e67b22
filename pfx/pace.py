"""Adaptive write concurrency, pure: grow while the server keeps up, back off when it pushes.

SQLite-backed servers serialise writes and answer contention with 503 (measured: two writes
in flight are slower than one); PostgreSQL takes a few at once; Cloud answers 429 when
rate-limited. Start with one write in flight and add one at a time while answers stay fast;
on pushback halve the allowance and remember where it broke, never growing past that again,
so a SQLite destination settles at one write in flight after a single probe. The user's
`--concurrency` is the ceiling.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Pace:
    """The current allowance of concurrent writes and the rule that moves it."""

    ceiling: int = 8
    limit: float = 1.0
    # Answers slower than this (seconds) stop growth: the server is already saturated.
    slow: float = 0.5
    # Successes needed at the current allowance before growing by one.
    patience: int = 20
    streak: int = 0

    def allowed(self) -> int:
        return max(1, min(self.ceiling, int(self.limit)))

    def on_success(self, seconds: float) -> None:
        if seconds >= self.slow:
            self.streak = 0
            return
        self.streak += 1
        if self.streak >= self.patience * self.allowed() and self.limit < self.ceiling:
            self.limit += 1.0
            self.streak = 0

    def on_pushback(self) -> None:
        broke_at = self.allowed()
        self.limit = max(1.0, self.limit / 2.0)
        # Never grow back to where the server pushed back.
        self.ceiling = max(1, min(self.ceiling, broke_at - 1))
        self.streak = 0

    @staticmethod
    def backoff(attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait before retry `attempt` (1-based); honours Retry-After."""
        if retry_after is not None:
            return min(60.0, max(0.0, retry_after))
        return float(min(8.0, 0.05 * 2.0 ** (attempt - 1)))
