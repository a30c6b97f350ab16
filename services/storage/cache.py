"""The shared TTL cache: search results and LLM answers survive restarts and every service shares one.

`Cache` is the contract and the logic both backends share (JSON, counters, when to purge);
services/storage/sqlite/cache.py and services/storage/postgres/cache.py hold only their SQL.
"""

from __future__ import annotations

import json
import time
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class CacheStats:
    entries: int
    hits: int
    misses: int

    @property
    def hit_rate(self) -> float | None:
        total = self.hits + self.misses
        return self.hits / total if total else None


class Cache(ABC):
    """get/set/delete of JSON values by (namespace, key); hit and miss counts since start-up (per process)."""

    def __init__(self, *, max_entries: int = 100_000, purge_interval: float = 300.0,
                 clock: Callable[[], float] = time.time) -> None:
        self._max_entries = max_entries
        self._clock = clock
        # A long-running bot must not keep expired rows, nor grow past max_entries, until its next
        # restart: set() purges every purge_interval seconds and every max(100, max_entries/10) new rows.
        self._purge_interval = purge_interval
        self._next_purge = clock() + purge_interval
        self._sets_since_purge = 0
        self.hits: Counter[str] = Counter()
        self.misses: Counter[str] = Counter()

    # --- SQL, one implementation per backend ---------------------------------------------------

    @abstractmethod
    async def _read(self, namespace: str, key: str, now: float) -> str | None:
        """The JSON text of an entry that has not expired at `now`."""

    @abstractmethod
    async def _write(self, namespace: str, key: str, value: str, now: float, expires_at: float) -> None:
        """Insert or replace one entry."""

    @abstractmethod
    async def delete(self, namespace: str, key: str) -> bool: ...

    @abstractmethod
    async def clear(self, namespace: str | None = None) -> int:
        """Remove every entry, or every entry of one namespace; returns how many."""

    @abstractmethod
    async def _purge(self, now: float, max_entries: int) -> int:
        """Drop entries expired at `now`, then the soonest-expiring ones beyond `max_entries`."""

    @abstractmethod
    async def namespaces(self) -> list[str]: ...

    @abstractmethod
    async def _count_live(self, now: float) -> int: ...

    # --- shared logic ----------------------------------------------------------------------------

    async def get(self, namespace: str, key: str) -> Any | None:
        """The cached value, or None when absent or expired."""
        text = await self._read(namespace, key, self._clock())
        if text is None:
            self.misses[namespace] += 1
            return None
        self.hits[namespace] += 1
        return json.loads(text)

    async def set(self, namespace: str, key: str, value: Any, ttl: float) -> None:
        if value is None:
            raise ValueError("None cannot be cached: get() uses it to mean a miss")
        if ttl <= 0:
            return
        now = self._clock()
        await self._write(namespace, key, json.dumps(value, ensure_ascii=False, separators=(",", ":")),
                          now, now + ttl)
        self._sets_since_purge += 1
        if now >= self._next_purge or self._sets_since_purge >= max(100, self._max_entries // 10):
            await self.purge_expired()

    async def purge_expired(self) -> int:
        """Drop expired entries, then the soonest-expiring ones beyond max_entries."""
        self._next_purge, self._sets_since_purge = self._clock() + self._purge_interval, 0
        return await self._purge(self._clock(), self._max_entries)

    async def stats(self) -> CacheStats:
        return CacheStats(entries=await self._count_live(self._clock()), hits=sum(self.hits.values()),
                          misses=sum(self.misses.values()))
