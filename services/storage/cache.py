"""Shared TTL cache in SQLite, so cached answers survive restarts and every service shares one."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from services.storage.db import Database


@dataclass(frozen=True)
class CacheStats:
    entries: int
    hits: int
    misses: int

    @property
    def hit_rate(self) -> float | None:
        total = self.hits + self.misses
        return self.hits / total if total else None


class Cache:
    """get/set/delete of JSON values by (namespace, key); hit and miss counts since start-up."""

    def __init__(self, db: Database, *, max_entries: int = 100_000, purge_interval: float = 300.0,
                 clock: Callable[[], float] = time.time) -> None:
        self._db = db
        self._max_entries = max_entries
        self._clock = clock
        # A long-running bot must not keep expired rows, nor grow past max_entries, until its next
        # restart: set() purges every purge_interval seconds and every max(100, max_entries/10) new rows.
        self._purge_interval = purge_interval
        self._next_purge = clock() + purge_interval
        self._sets_since_purge = 0
        self.hits: Counter[str] = Counter()
        self.misses: Counter[str] = Counter()

    async def get(self, namespace: str, key: str) -> Any | None:
        """The cached value, or None when absent or expired."""
        row = await self._db.fetchone(
            "SELECT value FROM cache WHERE namespace = ? AND key = ? AND expires_at > ?",
            (namespace, key, self._clock()),
        )
        if row is None:
            self.misses[namespace] += 1
            return None
        self.hits[namespace] += 1
        return json.loads(row[0])

    async def set(self, namespace: str, key: str, value: Any, ttl: float) -> None:
        if value is None:
            raise ValueError("None cannot be cached: get() uses it to mean a miss")
        if ttl <= 0:
            return
        now = self._clock()
        await self._db.execute(
            "INSERT INTO cache (namespace, key, value, created_at, expires_at) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (namespace, key) DO UPDATE SET value = excluded.value, "
            "created_at = excluded.created_at, expires_at = excluded.expires_at",
            (namespace, key, json.dumps(value, ensure_ascii=False, separators=(",", ":")), now, now + ttl),
        )
        self._sets_since_purge += 1
        if now >= self._next_purge or self._sets_since_purge >= max(100, self._max_entries // 10):
            await self.purge_expired()

    async def delete(self, namespace: str, key: str) -> bool:
        return await self._db.execute(
            "DELETE FROM cache WHERE namespace = ? AND key = ?", (namespace, key)) > 0

    async def clear(self, namespace: str | None = None) -> int:
        """Remove every entry, or every entry of one namespace; returns how many."""
        if namespace is None:
            return await self._db.execute("DELETE FROM cache")
        return await self._db.execute("DELETE FROM cache WHERE namespace = ?", (namespace,))

    async def purge_expired(self) -> int:
        """Drop expired entries, then the soonest-expiring ones beyond max_entries."""
        self._next_purge, self._sets_since_purge = self._clock() + self._purge_interval, 0
        removed = await self._db.execute("DELETE FROM cache WHERE expires_at <= ?", (self._clock(),))
        row = await self._db.fetchone("SELECT COUNT(*) FROM cache")
        excess = (row[0] if row else 0) - self._max_entries
        if excess > 0:
            # WITHOUT ROWID table: delete by primary key.
            removed += await self._db.execute(
                "DELETE FROM cache WHERE (namespace, key) IN "
                "(SELECT namespace, key FROM cache ORDER BY expires_at LIMIT ?)",
                (excess,),
            )
        return removed

    async def namespaces(self) -> list[str]:
        rows = await self._db.fetchall("SELECT DISTINCT namespace FROM cache ORDER BY namespace")
        return [r[0] for r in rows]

    async def stats(self) -> CacheStats:
        row = await self._db.fetchone("SELECT COUNT(*) FROM cache WHERE expires_at > ?", (self._clock(),))
        return CacheStats(entries=row[0] if row else 0, hits=sum(self.hits.values()),
                          misses=sum(self.misses.values()))
