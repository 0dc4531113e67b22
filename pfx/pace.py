"""Adaptive write concurrency, pure: grow while the server answers, halve when it pushes back.

SQLite-backed servers serialise writes and answer contention with 503; Cloud answers 429.
Additive increase, multiplicative decrease keeps the number of writes in flight near what the
destination can take, up to the user's `--concurrency` ceiling.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Pace:
    """The current allowance of concurrent writes and the rule that moves it."""

    ceiling: int = 8
    limit: float = 2.0
    # Answers slower than this (seconds) stop growth: the server is already saturated.
    slow: float = 0.5

    def allowed(self) -> int:
        return max(1, min(self.ceiling, int(self.limit)))

    def on_success(self, seconds: float) -> None:
        if seconds < self.slow:
            self.limit = min(float(self.ceiling), self.limit + 1.0 / max(1.0, self.limit))

    def on_pushback(self) -> None:
        self.limit = max(1.0, self.limit / 2.0)

    @staticmethod
    def backoff(attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait before retry `attempt` (1-based); honours Retry-After."""
        if retry_after is not None:
            return min(60.0, max(0.0, retry_after))
        return float(min(8.0, 0.05 * 2.0 ** (attempt - 1)))
