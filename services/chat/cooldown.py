"""Per-user cooldown between prompts; forgets users whose cooldown is over, so it never grows."""

from __future__ import annotations

import time
from collections.abc import Callable


class Cooldown:
    def __init__(self, seconds: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.seconds = seconds
        self._clock = clock
        self._until: dict[int, float] = {}

    def try_acquire(self, user_id: int) -> float:
        """0 when the user may go now (and starts their cooldown), else the seconds left."""
        if self.seconds <= 0:
            return 0.0
        now = self._clock()
        self._until = {uid: t for uid, t in self._until.items() if t > now} if len(self._until) > 256 else self._until
        left = self._until.get(user_id, 0.0) - now
        if left > 0:
            return left
        self._until[user_id] = now + self.seconds
        return 0.0

    def __len__(self) -> int:
        return len(self._until)
