"""Builds every service once from settings, the shared HTTP session and the database."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import aiohttp

from config.settings import Settings
from services.storage import Cache, Database, HealthStore

log = logging.getLogger(__name__)


@dataclass
class Services:
    """What cogs use; constructed without I/O, started and closed by the bot."""

    settings: Settings
    session: aiohttp.ClientSession
    db: Database
    cache: Cache = field(init=False)
    health: HealthStore = field(init=False)

    def __post_init__(self) -> None:
        self.cache = Cache(self.db, max_entries=self.settings.api_cache_max_size)
        self.health = HealthStore(self.db)

    async def start(self) -> None:
        """Background work that needs a running loop (called from setup_hook)."""
        purged = await self.cache.purge_expired()
        if purged:
            log.info("Purged %d expired cache entries", purged)

    async def close(self) -> None:
        """Stop background work; the session and database are closed by their owner."""
