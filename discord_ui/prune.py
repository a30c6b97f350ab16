"""The one way cogs prune kept history: at start-up, then every `prune_every(history_days)`."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from discord.ext import tasks

from services.storage import DATABASE_ERRORS
from services.storage.retention import prune_every

log = logging.getLogger(__name__)


def pruning_loop(what: str, history_days: float, prune: Callable[[], Awaitable[int]], *,
                 leader: Callable[[], bool] = lambda: True) -> tasks.Loop:
    """A loop to start in cog_load and cancel in cog_unload; it prunes only in the leading process
    (with several processes, pruning is done once for the whole bot).

    A database error (locked by another process, disk full) is logged and the next run tries again:
    an exception discord.ext.tasks does not list would end the loop for good.
    """
    async def run() -> None:
        if not leader():
            return
        try:
            removed = await prune()
        except DATABASE_ERRORS:
            log.exception("Could not prune %s; trying again in %.0f s", what, prune_every(history_days))
            return
        if removed:
            log.info("Pruned %d %s older than %g days", removed, what, history_days)

    return tasks.loop(seconds=prune_every(history_days))(run)
