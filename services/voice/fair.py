"""One answer at a time in a voice channel, with the members served in turn.

Answers are spoken one after another (they share one voice), but waiting turns are not served
strictly first-come: each member's turns keep their order, and members take turns round-robin,
so one talkative member cannot make everyone else wait behind a backlog of theirs.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class FairTurns:
    def __init__(self) -> None:
        self._busy = False
        self._waiting: dict[int, deque[asyncio.Future[None]]] = {}
        self._order: deque[int] = deque()

    @property
    def waiting(self) -> int:
        return sum(len(q) for q in self._waiting.values())

    @asynccontextmanager
    async def turn(self, member: int) -> AsyncIterator[None]:
        """Hold the floor for `member` while the block runs."""
        if self._busy or self._waiting:
            future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            queue = self._waiting.setdefault(member, deque())
            if not queue:
                self._order.append(member)
            queue.append(future)
            try:
                await future
            except asyncio.CancelledError:
                if future.done() and not future.cancelled():
                    self._release()  # granted, then cancelled before it could start: pass the floor on
                raise
        else:
            self._busy = True
        try:
            yield
        finally:
            self._release()

    def _release(self) -> None:
        while self._order:
            member = self._order.popleft()
            queue = self._waiting[member]
            future = queue.popleft()
            if queue:
                self._order.append(member)
            else:
                del self._waiting[member]
            if not future.done():
                future.set_result(None)
                return
        self._busy = False
