"""Current state of every external service, shared by probes, real traffic and circuit breakers.

Kept in SQLite so `/health` tells the truth right after a restart (marked stale until probed)
and an open circuit stays open across restarts instead of hammering a dead provider.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from services.redact import redact
from services.storage.db import Database

log = logging.getLogger(__name__)

STATUSES = ("healthy", "degraded", "down", "disabled", "unknown")
CIRCUIT_STATES = ("closed", "open", "half_open")
MAX_ERROR_CHARS = 300


@dataclass(frozen=True)
class ServiceHealth:
    service: str
    status: str = "unknown"
    latency_ms: float | None = None
    last_error: str | None = None
    checked_at: float = 0.0
    consecutive_failures: int = 0
    circuit_state: str = "closed"
    circuit_opened_at: float | None = None
    detail: str | None = None


ChangeListener = Callable[[ServiceHealth | None, ServiceHealth], Awaitable[None]]


class HealthStore:
    """Reads and writes service_health rows; tells listeners when a service's status changes."""

    def __init__(self, db: Database, *, clock: Callable[[], float] = time.time) -> None:
        self._db = db
        self._clock = clock
        self._listeners: list[ChangeListener] = []

    def add_listener(self, listener: ChangeListener) -> None:
        """Called with (old, new) whenever a service's status changes (for logs and alerts)."""
        self._listeners.append(listener)

    async def get(self, service: str) -> ServiceHealth | None:
        row = await self._db.fetchone("SELECT * FROM service_health WHERE service = ?", (service,))
        return ServiceHealth(**dict(row)) if row else None

    async def all(self) -> list[ServiceHealth]:
        rows = await self._db.fetchall("SELECT * FROM service_health ORDER BY service")
        return [ServiceHealth(**dict(r)) for r in rows]

    async def put(self, health: ServiceHealth) -> ServiceHealth:
        """Store a whole state; notify listeners when the status differs from the stored one."""
        if health.status not in STATUSES:
            raise ValueError(f"unknown status {health.status!r}")
        if health.circuit_state not in CIRCUIT_STATES:
            raise ValueError(f"unknown circuit state {health.circuit_state!r}")
        if health.last_error:
            health = dataclasses.replace(health, last_error=redact(health.last_error)[:MAX_ERROR_CHARS])
        previous = await self.get(health.service)
        values = dataclasses.asdict(health)
        columns = ", ".join(values)
        updates = ", ".join(f"{c} = excluded.{c}" for c in values if c != "service")
        await self._db.execute(
            f"INSERT INTO service_health ({columns}) VALUES ({', '.join('?' * len(values))}) "
            f"ON CONFLICT (service) DO UPDATE SET {updates}",
            tuple(values.values()),
        )
        if previous is None or previous.status != health.status:
            for listener in self._listeners:
                try:
                    await listener(previous, health)
                except Exception:  # a broken alert must not break the caller's request
                    log.exception("Health change listener failed for %s", health.service)
        return health

    async def record_success(self, service: str, latency_ms: float | None = None, *,
                             status: str = "healthy", detail: str | None = None) -> ServiceHealth:
        """A probe or a real request succeeded: failures reset, circuit closed."""
        current = await self.get(service) or ServiceHealth(service)
        return await self.put(dataclasses.replace(
            current, status=status, latency_ms=latency_ms, checked_at=self._clock(),
            consecutive_failures=0, circuit_state="closed", circuit_opened_at=None,
            detail=detail if detail is not None else current.detail,
        ))

    async def record_failure(self, service: str, error: str, *, latency_ms: float | None = None,
                             status: str = "down") -> ServiceHealth:
        """A probe or a real request failed; the circuit state is left to the caller's breaker."""
        current = await self.get(service) or ServiceHealth(service)
        return await self.put(dataclasses.replace(
            current, status=status, latency_ms=latency_ms, last_error=error,
            checked_at=self._clock(), consecutive_failures=current.consecutive_failures + 1,
        ))

    async def record_disabled(self, service: str, reason: str) -> ServiceHealth:
        return await self.put(ServiceHealth(service, status="disabled", checked_at=self._clock(),
                                            detail=reason))

    async def set_circuit(self, service: str, state: str, opened_at: float | None = None) -> ServiceHealth:
        current = await self.get(service) or ServiceHealth(service, checked_at=self._clock())
        return await self.put(dataclasses.replace(current, circuit_state=state, circuit_opened_at=opened_at))
