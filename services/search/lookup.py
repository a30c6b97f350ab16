"""Cache first, then the network; every network answer or failure is written to the health store.

Shared by every search source so each one gets the same cache semantics (per-source TTL, survives
restarts) and the same health bookkeeping without repeating it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from services.errors import ServiceError
from services.search.errors import SearchBusy, SearchRateLimited
from services.storage import Cache, HealthStore

log = logging.getLogger(__name__)

T = TypeVar("T")


class SourceLookup:
    """One search source's view of the cache namespace and health row it owns."""

    def __init__(self, service: str, namespace: str, *, health: HealthStore, cache: Cache | None,
                 ttl: float) -> None:
        self.service = service
        self.namespace = namespace
        self._health = health
        self._cache = cache
        self._ttl = ttl

    async def get_or_fetch(self, key: str, fetch: Callable[[], Awaitable[T]],
                           encode: Callable[[T], Any], decode: Callable[[Any], T]) -> T:
        """The cached answer for key, or fetch() (tracked), stored for the source's TTL."""
        if self._cache is not None:
            cached = await self._cache.get(self.namespace, key)
            if cached is not None:
                return decode(cached)
        value = await self.track(fetch)
        if self._cache is not None:
            await self._cache.set(self.namespace, key, encode(value), self._ttl)
        return value

    async def track(self, fetch: Callable[[], Awaitable[T]]) -> T:
        """Run one real request and record its outcome as this service's health."""
        started = time.perf_counter()
        try:
            value = await fetch()
        except SearchBusy:
            raise  # our own gate refused; the service itself was never asked
        except ServiceError as exc:
            latency = (time.perf_counter() - started) * 1000
            status = "degraded" if isinstance(exc, SearchRateLimited) else "down"
            log.warning("%s failed: %s", self.service, exc)
            await self._health.record_failure(self.service, exc.cause, latency_ms=latency, status=status)
            raise
        await self._health.record_success(self.service, (time.perf_counter() - started) * 1000)
        return value
