"""The cache table in SQLite."""

from __future__ import annotations

import time
from collections.abc import Callable

from services.storage.cache import Cache
from services.storage.db import Database


class SqliteCache(Cache):
    def __init__(self, db: Database, *, max_entries: int = 100_000, purge_interval: float = 300.0,
                 clock: Callable[[], float] = time.time) -> None:
        super().__init__(max_entries=max_entries, purge_interval=purge_interval, clock=clock)
        self._db = db

    async def _read(self, namespace: str, key: str, now: float) -> str | None:
        row = await self._db.fetchone(
            "SELECT value FROM cache WHERE namespace = ? AND key = ? AND expires_at > ?", (namespace, key, now))
        return None if row is None else str(row[0])

    async def _write(self, namespace: str, key: str, value: str, now: float, expires_at: float) -> None:
        await self._db.execute(
            "INSERT INTO cache (namespace, key, value, created_at, expires_at) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (namespace, key) DO UPDATE SET value = excluded.value, "
            "created_at = excluded.created_at, expires_at = excluded.expires_at",
            (namespace, key, value, now, expires_at))

    async def delete(self, namespace: str, key: str) -> bool:
        return await self._db.execute("DELETE FROM cache WHERE namespace = ? AND key = ?", (namespace, key)) > 0

    async def clear(self, namespace: str | None = None) -> int:
        if namespace is None:
            return await self._db.execute("DELETE FROM cache")
        return await self._db.execute("DELETE FROM cache WHERE namespace = ?", (namespace,))

    async def _purge(self, now: float, max_entries: int) -> int:
        removed = await self._db.execute("DELETE FROM cache WHERE expires_at <= ?", (now,))
        row = await self._db.fetchone("SELECT COUNT(*) FROM cache")
        excess = (row[0] if row else 0) - max_entries
        if excess > 0:
            # WITHOUT ROWID table: delete by primary key.
            removed += await self._db.execute(
                "DELETE FROM cache WHERE (namespace, key) IN "
                "(SELECT namespace, key FROM cache ORDER BY expires_at LIMIT ?)", (excess,))
        return removed

    async def namespaces(self) -> list[str]:
        rows = await self._db.fetchall("SELECT DISTINCT namespace FROM cache ORDER BY namespace")
        return [r[0] for r in rows]

    async def _count_live(self, now: float) -> int:
        row = await self._db.fetchone("SELECT COUNT(*) FROM cache WHERE expires_at > ?", (now,))
        return int(row[0]) if row else 0
