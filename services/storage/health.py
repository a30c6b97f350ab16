"""Current state of every external service, shared by probes, real traffic and circuit breakers.

Kept in the database so `/health` tells the truth right after a restart (marked stale until probed)
and an open circuit stays open across restarts instead of hammering a dead provider. With several
processes on one PostgreSQL, a change made by one process reaches the others (`watch`, and listeners
added with `everywhere=True`), so a provider found dead by one is skipped by all.

`HealthStore` is the contract plus the bookkeeping both backends share; the backends hold only SQL.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from services.redact import redact

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
Watcher = Callable[[str], Awaitable[None]]


class HealthStore(ABC):
    """Reads and writes service health rows; tells listeners when a service's status changes."""

    def __init__(self, *, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._listeners: list[ChangeListener] = []
        self._everywhere: list[ChangeListener] = []
        self._watchers: list[Watcher] = []

    # --- SQL, one implementation per backend ---------------------------------------------------

    @abstractmethod
    async def get(self, service: str) -> ServiceHealth | None: ...

    @abstractmethod
    async def all(self) -> list[ServiceHealth]: ...

    @abstractmethod
    async def _upsert(self, health: ServiceHealth, previous: ServiceHealth | None) -> None:
        """Write the whole row; a shared backend also tells the other processes (see changed_elsewhere)."""

    # --- listeners -------------------------------------------------------------------------------

    def add_listener(self, listener: ChangeListener, *, everywhere: bool = False) -> None:
        """Called with (old, new) whenever a service's status changes in this process (for logs);
        `everywhere=True` also for changes made by the bot's other processes (for alerts posted once)."""
        (self._everywhere if everywhere else self._listeners).append(listener)

    def remove_listener(self, listener: ChangeListener) -> None:
        for listeners in (self._listeners, self._everywhere):
            if listener in listeners:
                listeners.remove(listener)

    def watch(self, watcher: Watcher) -> None:
        """watcher(service) after another process wrote that service's row (a breaker re-reads it)."""
        self._watchers.append(watcher)

    async def changed_elsewhere(self, service: str, old_status: str | None, new_status: str) -> None:
        """Called by a shared backend when another process wrote `service`'s row."""
        for watcher in list(self._watchers):
            try:
                await watcher(service)
            except Exception:  # a watcher's failure must not stop the others from hearing the change
                log.exception("Health watcher failed for %s", service)
        if old_status == new_status:
            return
        new = await self.get(service)
        if new is None:
            return
        old = None if old_status is None else dataclasses.replace(new, status=old_status)
        await self._tell(self._everywhere, old, new)

    async def _tell(self, listeners: list[ChangeListener], old: ServiceHealth | None, new: ServiceHealth) -> None:
        for listener in list(listeners):
            try:
                await listener(old, new)
            except Exception:  # a broken alert must not break the caller's request
                log.exception("Health change listener failed for %s", new.service)

    # --- writes ----------------------------------------------------------------------------------

    async def put(self, health: ServiceHealth) -> ServiceHealth:
        """Store a whole state; notify listeners when the status differs from the stored one."""
        if health.status not in STATUSES:
            raise ValueError(f"unknown status {health.status!r}")
        if health.circuit_state not in CIRCUIT_STATES:
            raise ValueError(f"unknown circuit state {health.circuit_state!r}")
        if health.last_error:
            health = dataclasses.replace(health, last_error=redact(health.last_error)[:MAX_ERROR_CHARS])
        previous = await self.get(health.service)
        await self._upsert(health, previous)
        if previous is None or previous.status != health.status:
            await self._tell(self._listeners + self._everywhere, previous, health)
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
        return await self.put(ServiceHealth(service, status="disabled", checked_at=self._clock(), detail=reason))

    async def set_circuit(self, service: str, state: str, opened_at: float | None = None) -> ServiceHealth:
        current = await self.get(service) or ServiceHealth(service, checked_at=self._clock())
        return await self.put(dataclasses.replace(current, circuit_state=state, circuit_opened_at=opened_at))
