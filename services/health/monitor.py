"""Probes every configured service on an interval and keeps current state plus history.

Probes run with jitter (so a restart of many bots does not hit a server at once), bounded concurrency
and a per-probe timeout. Services that are not configured are recorded as "disabled", never as failures.
"""

from __future__ import annotations

import asyncio
import logging
import random
import sqlite3
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from services.errors import ServiceError
from services.storage.db import Database
from services.storage.health import HealthStore, ServiceHealth

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ProbeResult:
    """What a probe found when the service answered; `degraded` for "up but not right"."""

    status: str = "healthy"
    detail: str | None = None


@dataclass(frozen=True)
class Probe:
    name: str
    check: Callable[[], Awaitable[ProbeResult]] | None   # None: not configured
    disabled_reason: str = "not configured"


class HealthHistory:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def add(self, h: ServiceHealth) -> None:
        await self._db.execute(
            "INSERT INTO health_history (service, status, latency_ms, error, checked_at) VALUES (?, ?, ?, ?, ?)",
            (h.service, h.status, h.latency_ms, h.last_error if h.status in ("down", "degraded") else None,
             h.checked_at))

    async def recent(self, service: str, limit: int = 50) -> list[tuple[str, float]]:
        rows = await self._db.fetchall(
            "SELECT status, checked_at FROM health_history WHERE service = ? ORDER BY id DESC LIMIT ?",
            (service, limit))
        return [(r[0], r[1]) for r in rows]

    async def prune(self, older_than: float) -> int:
        return await self._db.execute("DELETE FROM health_history WHERE checked_at < ?", (older_than,))


class HealthMonitor:
    def __init__(self, store: HealthStore, history: HealthHistory, probes: Sequence[Probe], *,
                 interval: float, timeout: float, history_days: float, concurrency: int = 4,
                 slow_ms: float | None = None, jitter: float = 0.1,
                 clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.history = history
        self.probes = list(probes)
        self.interval = interval
        self.timeout = timeout
        self.history_days = history_days
        self.slow_ms = slow_ms if slow_ms is not None else timeout * 1000 / 2
        self.jitter = jitter
        self._clock = clock
        self._semaphore = asyncio.Semaphore(concurrency)
        self._task: asyncio.Task[None] | None = None

    async def run_once(self) -> list[ServiceHealth]:
        """Probe everything now (also what /health refresh:true does)."""
        results = await asyncio.gather(*(self._probe(p) for p in self.probes))
        await self.history.prune(self._clock() - self.history_days * 86400)
        return list(results)

    async def _probe(self, probe: Probe) -> ServiceHealth:
        if probe.check is None:
            health = await self.store.record_disabled(probe.name, probe.disabled_reason)
            await self.history.add(health)
            return health
        async with self._semaphore:
            started = time.perf_counter()
            try:
                async with asyncio.timeout(self.timeout):
                    result = await probe.check()
            except TimeoutError:
                health = await self.store.record_failure(
                    probe.name, f"no answer within {self.timeout:g} s", latency_ms=self.timeout * 1000)
            except ServiceError as exc:
                latency = (time.perf_counter() - started) * 1000
                health = await self.store.record_failure(probe.name, exc.cause, latency_ms=latency)
            else:
                latency = (time.perf_counter() - started) * 1000
                status = result.status
                if status == "healthy" and latency > self.slow_ms:
                    status, result = "degraded", ProbeResult("degraded", f"slow: {latency:.0f} ms")
                if status == "healthy":
                    health = await self.store.record_success(probe.name, latency, detail=result.detail)
                else:
                    health = await self.store.record_failure(
                        probe.name, result.detail or "degraded", latency_ms=latency, status=status)
        await self.history.add(health)
        return health

    def start(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._loop(), name="health-monitor")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None

    async def _loop(self) -> None:
        while True:
            try:
                await self.run_once()
            except sqlite3.Error as exc:  # a locked or full disk must not end monitoring for good
                log.error("Health probes could not be stored: %s", exc)
            spread = self.interval * self.jitter
            await asyncio.sleep(self.interval + random.uniform(-spread, spread))


def log_state_changes(logger: logging.Logger = log) -> Callable[[ServiceHealth | None, ServiceHealth], Awaitable[None]]:
    """A HealthStore listener that logs each status change once."""

    async def listener(old: ServiceHealth | None, new: ServiceHealth) -> None:
        before = old.status if old else "unknown"
        if new.status in ("down", "degraded"):
            logger.warning("Service %s: %s -> %s (%s)", new.service, before, new.status, new.last_error)
        else:
            logger.info("Service %s: %s -> %s", new.service, before, new.status)

    return listener
