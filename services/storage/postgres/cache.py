"""The cache table in PostgreSQL."""

from __future__ import annotations

import time
from collections.abc import Callable

from services.storage.cache import Cache
from services.storage.postgres.database import PgDatabase


class PostgresCache(Cache):
    def __init__(self, db: PgDatabase, *, max_entries: int = 100_000, purge_interval: float = 300.0,
                 clock: Callable[[], float] = time.time) -> None:
        super().__init__(max_entries=max_entries, purge_interval=purge_interval, clock=clock)
        self._db = db

    async def _read(self, namespace: str, key: str, now: float) -> str | None:
        value = await self._db.fetchval(
            "SELECT value FROM cache WHERE namespace = $1 AND key = $2 AND expires_at > $3", namespace, key, now)
        return None if value is None else str(value)

    async def _write(self, namespace: str, key: str, value: str, now: float, expires_at: float) -> None:
        await self._db.execute(
            "INSERT INTO cache (namespace, key, value, created_at, expires_at) VALUES ($1, $2, $3, $4, $5) "
            "ON CONFLICT (namespace, key) DO UPDATE SET value = excluded.value, "
            "created_at = excluded.created_at, expires_at = excluded.expires_at",
            namespace, key, value, now, expires_at)

    async def delete(self, namespace: str, key: str) -> bool:
        return await self._db.execute("DELETE FROM cache WHERE namespace = $1 AND key = $2", namespace, key) > 0

    async def clear(self, namespace: str | None = None) -> int:
        if namespace is None:
            return await self._db.execute("DELETE FROM cache")
        return await self._db.execute("DELETE FROM cache WHERE namespace = $1", namespace)

    async def _purge(self, now: float, max_entries: int) -> int:
        removed = await self._db.execute("DELETE FROM cache WHERE expires_at <= $1", now)
        excess = int(await self._db.fetchval("SELECT count(*) FROM cache")) - max_entries
        if excess > 0:
            removed += await self._db.execute(
                "DELETE FROM cache WHERE (namespace, key) IN "
                "(SELECT namespace, key FROM cache ORDER BY expires_at LIMIT $1)", excess)
        return removed

    async def namespaces(self) -> list[str]:
        return [r[0] for r in await self._db.fetch("SELECT DISTINCT namespace FROM cache ORDER BY namespace")]

    async def _count_live(self, now: float) -> int:
        return int(await self._db.fetchval("SELECT count(*) FROM cache WHERE expires_at > $1", now))
