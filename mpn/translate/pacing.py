"""How fast and how often the runner calls a provider: rate limit and retry backoff."""
from __future__ import annotations

import time
from dataclasses import dataclass


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff: wait backoff_s, 2x, 4x, ... capped at backoff_max_s."""

    max_attempts: int = 5
    backoff_s: float = 1.0
    backoff_max_s: float = 60.0

    def delay(self, failed_attempts: int) -> float:
        """Seconds to wait after `failed_attempts` (>= 1) failures in a row."""
        return min(self.backoff_max_s, self.backoff_s * 2.0 ** (failed_attempts - 1))


class RateLimiter:
    """Spaces calls at least 1/per_second apart; None or 0 means no limit."""

    def __init__(self, per_second: float | None):
        self.interval = 1.0 / per_second if per_second else 0.0
        self._next_allowed = 0.0

    def wait(self) -> None:
        now = time.monotonic()
        if now < self._next_allowed:
            time.sleep(self._next_allowed - now)
            now = self._next_allowed
        self._next_allowed = now + self.interval
