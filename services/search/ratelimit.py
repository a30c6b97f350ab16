"""The one gate every web search passes through, whoever asks: a policy per engine, and a line.

Public engines (DuckDuckGo above all, through ddgs) block an IP that searches in bursts, and a block
hurts every user of the bot, so ddgs searches go one at a time, WEB_SEARCH_RATE_LIMIT_DELAY seconds
apart. A self-hosted SearXNG is not spaced: only WEB_SEARCH_MAX_CONCURRENCY searches run at once.
Either way a search that cannot start now waits in line (served fairly across members, its place
reported to the asker) instead of being refused; it is refused only when it could not start within
QUEUE_MAX_WAIT or before the asker's deadline, and at once when that is already certain.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from services.limits.fair import FairGate, GateTimeout
from services.limits.requester import Requester
from services.search.errors import SearchBusy


class SearchGate:
    def __init__(self, service: str, *, limit: int, spacing: float, max_wait: float, search_timeout: float) -> None:
        self.service = service
        self.spacing = spacing
        self._gate = FairGate(service, limit, spacing=spacing)
        self._max_wait = max_wait
        self._search_timeout = search_timeout

    @property
    def limit(self) -> int:
        return self._gate.limit

    @property
    def waiting(self) -> int:
        return self._gate.waiting

    def penalize(self, seconds: float) -> None:
        """Hold every search back after the engine said we were too fast."""
        self._gate.penalize(seconds)

    def estimated_wait(self) -> float:
        """Seconds a newcomer would wait at least: the penalty or spacing left, and one spacing per waiter."""
        return self._gate.estimated_wait() + self._gate.waiting * self.spacing / self._gate.limit

    @asynccontextmanager
    async def slot(self, requester: Requester | None = None) -> AsyncIterator[None]:
        """Hold the gate for one upstream call; raises SearchBusy when the line is too long for the asker."""
        wait = self._max_wait
        if requester is not None:
            wait = requester.remaining(self._max_wait + self._search_timeout) - self._search_timeout
        estimate = self.estimated_wait()
        if estimate > wait:
            raise SearchBusy(self.service, estimate)
        key = requester.member_id if requester is not None else None
        try:
            await self._gate.acquire(key, timeout=max(0.0, wait),
                                     on_position=requester.position_callback("web search") if requester else None,
                                     arrived=requester.arrived_at if requester else None)
        except GateTimeout as exc:
            raise SearchBusy(self.service, max(1.0, exc.position * max(self.spacing, 1.0))) from None
        try:
            yield
        finally:
            self._gate.release(key)

    def describe(self) -> str:
        """The policy in a few words, for logs and /health."""
        spaced = f"{self.spacing:g} s apart" if self.spacing else "not spaced"
        return f"{self._gate.limit} at a time, {spaced}, up to {math.ceil(self._max_wait)} s in line"
