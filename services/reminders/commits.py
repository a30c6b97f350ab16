"""Group commit of delivery outcomes: deliveries that finish together share one transaction."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence

from services.reminders.models import Outcome
from services.storage import DATABASE_ERRORS

log = logging.getLogger(__name__)


class GroupCommit:
    """Whoever takes the lock commits everything queued so far; the others find theirs done.

    Outcomes whose commit failed are kept in `unsaved` and must be flushed before new work is read,
    so a database that refuses writes does not make the scheduler deliver the same reminders again.
    """

    def __init__(self, commit: Callable[[Sequence[Outcome]], Awaitable[object]]) -> None:
        self._commit = commit
        self._queued: list[tuple[Outcome, asyncio.Future[None]]] = []
        self._lock = asyncio.Lock()
        self.unsaved: list[Outcome] = []

    async def submit(self, outcome: Outcome) -> None:
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queued.append((outcome, done))
        async with self._lock:
            if done.done():
                return
            batch, self._queued = self._queued, []
            try:
                await self._commit([o for o, _ in batch])
            except DATABASE_ERRORS:
                log.exception("Could not record %d reminder deliveries; will retry", len(batch))
                self.unsaved.extend(o for o, _ in batch)
            finally:
                for _, future in batch:
                    if not future.done():
                        future.set_result(None)

    async def flush(self) -> None:
        """Commit outcomes left over from a failed commit; raises while the database still refuses."""
        async with self._lock:
            if self.unsaved:
                await self._commit(self.unsaved)
                self.unsaved = []
