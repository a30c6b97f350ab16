"""Cache first, then the network; every network answer or failure is written to the health store.

Shared by every search source so each one gets the same cache semantics (per-source TTL, survives
restarts) and the same health bookkeeping without repeating it. A key already being fetched is not
fetched again: whoever asks meanwhile waits for the same answer (or the same error).
"""

from __future__ import annotations

import asyncio
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
        self._in_flight: dict[str, asyncio.Future[Any]] = {}

    @property
    def in_flight(self) -> int:
        return len(self._in_flight)

    async def get_or_fetch(self, key: str, fetch: Callable[[], Awaitable[T]],
                           encode: Callable[[T], Any], decode: Callable[[Any], T]) -> T:
        """The cached answer for key, or fetch() (tracked), stored for the source's TTL; one fetch per key
        at a time, shared by everyone who asks while it runs (it goes on if the first asker leaves)."""
        if self._cache is not None:
            cached = await self._cache.get(self.namespace, key)
            if cached is not None:
                return decode(cached)
        flight = self._in_flight.get(key)
        if flight is None:
            flight = asyncio.ensure_future(self._fetch_and_store(key, fetch, encode))
            self._in_flight[key] = flight
            flight.add_done_callback(lambda done: self._landed(key, done))
        value: T = await asyncio.shield(flight)
        return value

    async def _fetch_and_store(self, key: str, fetch: Callable[[], Awaitable[T]], encode: Callable[[T], Any]) -> T:
        value = await self.track(fetch)
        if self._cache is not None:
            await self._cache.set(self.namespace, key, encode(value), self._ttl)
        return value

    def _landed(self, key: str, flight: asyncio.Future[Any]) -> None:
        if self._in_flight.get(key) is flight:
            del self._in_flight[key]
        if not flight.cancelled():
            flight.exception()  # retrieved: when every asker left, nobody else will

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
