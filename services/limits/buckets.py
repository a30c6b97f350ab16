"""One per-member rate limit for every costly command: a token bucket with a burst allowance.

Each member's bucket holds up to `burst` tokens and refills at `per_minute` tokens a minute; every
costly command takes one. Normal use (a few questions in a row, then a pause) never meets it; a
member firing commands without pause is held to the sustained rate. Full buckets are forgotten,
so memory stays bounded by the members who were active in the last few minutes.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable

PRUNE_ABOVE = 1024  # buckets kept before full ones are dropped


class MemberBuckets:
    def __init__(self, per_minute: float, burst: int, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_minute = per_minute
        self.burst = burst
        self._clock = clock
        self._buckets: dict[Hashable, tuple[float, float]] = {}  # key -> (tokens, at)

    @property
    def enabled(self) -> bool:
        return self.per_minute > 0 and self.burst > 0

    def try_take(self, key: Hashable) -> float:
        """0 when `key` may go now (one token taken), else the seconds until it may."""
        if not self.enabled:
            return 0.0
        now = self._clock()
        tokens = self._level(key, now)
        if tokens >= 1:
            self._buckets[key] = (tokens - 1, now)
            if len(self._buckets) > PRUNE_ABOVE:
                self._prune(now)
            return 0.0
        return (1 - tokens) * 60 / self.per_minute

    def _level(self, key: Hashable, now: float) -> float:
        tokens, at = self._buckets.get(key, (float(self.burst), now))
        return min(float(self.burst), tokens + (now - at) * self.per_minute / 60)

    def _prune(self, now: float) -> None:
        self._buckets = {k: v for k, v in self._buckets.items() if self._level(k, now) < self.burst}

    def __len__(self) -> int:
        return len(self._buckets)
