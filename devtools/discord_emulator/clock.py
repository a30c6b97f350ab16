"""The emulator's notion of time, so tests can jump past Discord's deadlines without waiting."""

from __future__ import annotations

import time
from collections.abc import Callable


class Clock:
    """Monotonic time for deadlines and records, wall time for snowflakes and timestamps.

    `advance()` moves both forward at once: a test checks the 15-minute interaction token expiry
    by advancing 901 seconds instead of sleeping.
    """

    def __init__(self) -> None:
        self._offset = 0.0
        self._listeners: list[Callable[[], None]] = []

    def monotonic(self) -> float:
        return time.monotonic() + self._offset

    def time(self) -> float:
        return time.time() + self._offset

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("the clock only moves forward")
        self._offset += seconds
        for listener in list(self._listeners):
            listener()

    def on_advance(self, listener: Callable[[], None]) -> None:
        self._listeners.append(listener)
