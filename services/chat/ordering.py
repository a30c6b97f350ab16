"""One prompt at a time per channel, in arrival order; channels do not wait for each other.

A place in the queue is taken synchronously (`take_turn`) before the caller's first await, so the
order is the order the events arrived in. Queues are dropped as soon as they empty, so channels
that went quiet cost nothing.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Hashable
from types import TracebackType


class KeyedQueue:
    def __init__(self) -> None:
        self._queues: dict[Hashable, deque[asyncio.Future[None]]] = {}

    def take_turn(self, key: Hashable) -> QueueTurn:
        """Join the queue of `key` now; `async with` the result to wait for the turn."""
        queue = self._queues.setdefault(key, deque())
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if not queue:
            future.set_result(None)
        queue.append(future)
        return QueueTurn(self, key, future)

    def waiting(self, key: Hashable) -> int:
        """Prompts queued or running for `key`."""
        return len(self._queues.get(key, ()))

    def __len__(self) -> int:
        return len(self._queues)

    def _leave(self, key: Hashable, future: asyncio.Future[None]) -> None:
        queue = self._queues[key]
        was_head = queue[0] is future
        queue.remove(future)
        if not queue:
            del self._queues[key]
        elif was_head and not queue[0].done():
            queue[0].set_result(None)


class QueueTurn:
    def __init__(self, owner: KeyedQueue, key: Hashable, future: asyncio.Future[None]) -> None:
        self._owner = owner
        self._key = key
        self._future = future
        self._left = False

    async def __aenter__(self) -> None:
        try:
            await asyncio.shield(self._future)
        except asyncio.CancelledError:
            self.leave()
            raise

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        self.leave()

    def leave(self) -> None:
        """Give the turn up (also when it was never used); the next in line goes."""
        if not self._left:
            self._left = True
            self._owner._leave(self._key, self._future)
