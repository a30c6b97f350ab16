"""The one gate every web search passes through, whoever asks.

Public engines (DuckDuckGo above all) block an IP that searches in bursts, and a block hurts
every user of the bot, so the limit is global: one search at a time, WEB_SEARCH_RATE_LIMIT_DELAY
seconds from the end of one to the start of the next, callers served in arrival order.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from services.search.errors import SearchBusy


class SharedRateLimiter:
    """Serialises calls `delay` seconds apart; refuses a caller that would wait over `max_wait`.

    The up-front refusal uses an estimate (callers ahead x delay) that cannot know how long the
    searches ahead will take, so the actual wait is also capped at max_wait.
    """

    def __init__(self, service: str, *, delay: float, max_wait: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._service = service
        self._delay = delay
        self._max_wait = max_wait
        self._clock = clock
        self._lock = asyncio.Lock()  # FIFO: waiters are woken in the order they arrived
        self._queued = 0
        self._next_allowed = 0.0

    def estimated_wait(self) -> float:
        """Seconds a caller arriving now would wait at least."""
        ahead = self._queued + (1 if self._lock.locked() else 0)
        return max(0.0, self._next_allowed - self._clock()) + ahead * self._delay

    def penalize(self, seconds: float) -> None:
        """Hold every caller back after the engine said we were too fast."""
        self._next_allowed = max(self._next_allowed, self._clock() + seconds)

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Hold the gate for one upstream call; raises SearchBusy instead of waiting too long."""
        estimate = self.estimated_wait()
        if estimate > self._max_wait:
            raise SearchBusy(self._service, estimate)
        deadline = self._clock() + self._max_wait
        self._queued += 1
        try:
            async with asyncio.timeout(self._max_wait):
                await self._lock.acquire()
        except TimeoutError:
            raise SearchBusy(self._service, self.estimated_wait()) from None
        finally:
            self._queued -= 1
        try:
            gap = self._next_allowed - self._clock()
            if gap > deadline - self._clock():
                raise SearchBusy(self._service, gap)
            if gap > 0:
                await asyncio.sleep(gap)
            yield
        finally:
            self._next_allowed = max(self._next_allowed, self._clock() + self._delay)
            self._lock.release()
