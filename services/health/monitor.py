"""Probes every configured service on an interval and keeps current state plus history.

Probes run with jitter (so bots restarted together do not hit a server in step), bounded
concurrency and a per-probe timeout. Services that are not configured are recorded as "disabled",
never as failures. With several processes, only the leader probes the services (once for the whole
bot); every process still probes what is its own (`local`: its gateway connection).

There are two kinds of probe because services differ in who owns their row:

- `Probe`: the monitor records the outcome (speech servers, the database, the gateway). When the
  client has a circuit breaker the outcome goes through it, so the breaker in memory and the row
  /health shows never disagree (a healthy probe closes an open circuit at once).
- `RecordedProbe`: the check stores its own rows and returns them (the LLM router keeps its
  circuits consistent; the search clients record like real traffic); the monitor adds history.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from services.errors import ServiceError
from services.health.history import HealthHistory
from services.resilience import CircuitBreaker
from services.storage import DATABASE_ERRORS
from services.storage.health import ChangeListener, HealthStore, ServiceHealth

log = logging.getLogger(__name__)

__all__ = ["HealthHistory", "HealthMonitor", "Probe", "ProbeResult", "RecordedProbe", "log_state_changes",
           "worth_alerting"]

PROBLEMS = ("degraded", "down")


@dataclass(frozen=True)
class ProbeResult:
    """What a probe found when the service answered; `degraded` for "up but not right"."""

    status: str = "healthy"
    detail: str | None = None
    latency_ms: float | None = None  # the service's own measure (gateway heartbeat), not the round trip


@dataclass(frozen=True)
class Probe:
    """A check whose outcome the monitor records; `check` None means "not configured"."""

    name: str
    check: Callable[[], Awaitable[ProbeResult]] | None
    disabled_reason: str = "not configured"
    breaker: CircuitBreaker | None = None
    local: bool = False  # this process's own (its gateway): probed by every process, not only the leader

    @property
    def services(self) -> tuple[str, ...]:
        return (self.name,)


@dataclass(frozen=True)
class RecordedProbe:
    """A check that stores its own health rows and returns them."""

    name: str
    services: tuple[str, ...]
    check: Callable[[], Awaitable[Sequence[ServiceHealth]]]
    timeout: float | None = None  # None: the monitor's
    # True: the check bounds its own requests and owns its rows (LLM); the monitor's timeout is
    # only a backstop after which nothing is written.
    owns_timeout: bool = False


AnyProbe = Probe | RecordedProbe


class HealthMonitor:
    def __init__(self, store: HealthStore, history: HealthHistory, probes: Sequence[AnyProbe], *,
                 interval: float, timeout: float, history_days: float, concurrency: int = 4,
                 slow_ms: float | None = None, jitter: float = 0.1,
                 clock: Callable[[], float] = time.time, leader: Callable[[], bool] = lambda: True,
                 shared: bool = False) -> None:
        self.store = store
        self.history = history
        self.probes: list[AnyProbe] = list(probes)
        self.interval = interval
        self.timeout = timeout
        self.history_days = history_days
        self.slow_ms = slow_ms if slow_ms is not None else timeout * 1000 / 2
        self.jitter = jitter
        self._clock = clock
        self.started_at = clock()  # rows checked before this are a previous run's: stale until probed
        self._leader = leader
        self._shared = shared  # other processes write rows too: an old row is not necessarily stale
        self.last_round_at: float | None = None
        self._semaphore = asyncio.Semaphore(concurrency)
        self._task: asyncio.Task[None] | None = None
        self._round: asyncio.Future[list[ServiceHealth]] | None = None
        self._listeners: list[ChangeListener] = []
        store.add_listener(self._notify)

    # --- configuration -------------------------------------------------------------------------

    @property
    def services(self) -> list[str]:
        """Every service name the probes cover: what /health must show even before a probe."""
        return list(dict.fromkeys(name for p in self.probes for name in p.services))

    def add_probe(self, probe: AnyProbe) -> None:
        """Add a probe, replacing one of the same name (the gateway probe, added by the admin cog)."""
        self.remove_probe(probe.name)
        self.probes.append(probe)

    def remove_probe(self, name: str) -> None:
        self.probes = [p for p in self.probes if p.name != name]

    def on_change(self, listener: ChangeListener) -> Callable[[], None]:
        """listener(old, new) on every status change, from probes or real traffic; returns the undo."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    async def _notify(self, old: ServiceHealth | None, new: ServiceHealth) -> None:
        for listener in list(self._listeners):
            await listener(old, new)

    def is_stale(self, health: ServiceHealth, now: float | None = None) -> bool:
        """Older than two intervals, or recorded by a previous run (e.g. right after a restart)."""
        now = self._clock() if now is None else now
        before_start = health.checked_at < self.started_at and not self._shared
        return before_start or now - health.checked_at > 2 * self.interval

    # --- probing -------------------------------------------------------------------------------

    async def run_once(self, *, everything: bool = False) -> list[ServiceHealth]:
        """Probe now: everything in the leader (or when asked: /health refresh:true), else this
        process's own probes; joins a round already running."""
        if self._round is None or self._round.done():
            self._round = asyncio.ensure_future(self._run_round(everything or self._leader()))
        return await asyncio.shield(self._round)

    async def _run_round(self, everything: bool) -> list[ServiceHealth]:
        probes = [p for p in self.probes if everything or (isinstance(p, Probe) and p.local)]
        outcomes = await asyncio.gather(*(self._run(p) for p in probes), return_exceptions=True)
        results: list[ServiceHealth] = []
        for probe, outcome in zip(probes, outcomes, strict=True):
            if isinstance(outcome, BaseException):  # a bug in one probe must not hide the others
                log.error("Health probe %s crashed", probe.name, exc_info=outcome)
            else:
                results.extend(outcome)
        self.last_round_at = self._clock()
        if self._leader():
            await self.history.prune(self._clock() - self.history_days * 86400)
        return results

    async def _run(self, probe: AnyProbe) -> list[ServiceHealth]:
        if isinstance(probe, RecordedProbe):
            healths = await self._run_recorded(probe)
        elif probe.check is None:
            healths = [await self.store.record_disabled(probe.name, probe.disabled_reason)]
        else:
            healths = [await self._run_check(probe, probe.check)]
        for health in healths:
            await self.history.add(health)
        return healths

    async def _run_check(self, probe: Probe, check: Callable[[], Awaitable[ProbeResult]]) -> ServiceHealth:
        async with self._semaphore:
            started = time.perf_counter()
            try:
                async with asyncio.timeout(self.timeout):
                    result = await check()
            except TimeoutError:
                return await self._failed(probe, f"no answer within {self.timeout:g} s", self.timeout * 1000)
            except ServiceError as exc:
                return await self._failed(probe, exc.cause, (time.perf_counter() - started) * 1000)
        latency = result.latency_ms if result.latency_ms is not None else (time.perf_counter() - started) * 1000
        status, detail = result.status, result.detail
        if status == "healthy" and latency > self.slow_ms:
            status, detail = "degraded", f"slow: {latency:.0f} ms"
        if status == "down":
            return await self._failed(probe, detail or "down", latency)
        if probe.breaker is not None:
            return await self._answered(probe.name, probe.breaker, latency, status, detail)
        if status == "healthy":
            return await self.store.record_success(probe.name, latency, detail=detail)
        return await self.store.record_failure(probe.name, detail or status, latency_ms=latency, status=status)

    async def _answered(self, name: str, breaker: CircuitBreaker, latency_ms: float, status: str,
                        detail: str | None) -> ServiceHealth:
        """A server that answers well closes its circuit at once (and forgets earlier failures); one that
        answers but not right only makes an open circuit half-open, so the next real call is the trial."""
        if status == "healthy":
            await breaker.record_success(latency_ms, detail=detail or "ok")  # a detail forces the write
            return await self.store.get(name) or ServiceHealth(name)
        return await breaker.record_probe(latency_ms, detail=detail, degraded=status != "healthy")

    async def _failed(self, probe: Probe, cause: str, latency_ms: float) -> ServiceHealth:
        if probe.breaker is None:
            return await self.store.record_failure(probe.name, cause, latency_ms=latency_ms)
        await probe.breaker.record_failure(cause, latency_ms=latency_ms)
        return await self.store.get(probe.name) or ServiceHealth(probe.name)

    async def _run_recorded(self, probe: RecordedProbe) -> list[ServiceHealth]:
        timeout = probe.timeout or self.timeout
        async with self._semaphore:
            try:
                async with asyncio.timeout(timeout):
                    return list(await probe.check())
            except TimeoutError:
                if probe.owns_timeout:
                    log.warning("Health probe %s did not finish within %g s; nothing recorded", probe.name, timeout)
                    return []
        return [await self.store.record_failure(name, f"no answer within {timeout:g} s", latency_ms=timeout * 1000)
                for name in probe.services]

    # --- background loop -----------------------------------------------------------------------

    def start(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._loop(), name="health-monitor")

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def stop(self) -> None:
        """Cancel the loop and any round in flight (before the database closes)."""
        for task in (self._task, self._round):
            if task is not None and not task.done():
                task.cancel()
                try:
                    await task
                except asyncio.CancelledError:
                    pass
        self._task = None

    async def _loop(self) -> None:
        while True:
            try:
                await self.run_once()
            except DATABASE_ERRORS as exc:  # a locked or full disk must not end monitoring for good
                log.error("Health probes could not be stored: %s", exc)
            spread = self.interval * self.jitter
            await asyncio.sleep(self.interval + random.uniform(-spread, spread))


def worth_alerting(old: ServiceHealth | None, new: ServiceHealth) -> bool:
    """Into or out of trouble; not the first "healthy"/"disabled" of a new service or a fresh database."""
    if old is not None and old.status == new.status:
        return False
    return new.status in PROBLEMS or (old is not None and old.status in PROBLEMS)


def log_state_changes(logger: logging.Logger = log) -> ChangeListener:
    """A HealthStore listener that logs each status change once."""

    async def listener(old: ServiceHealth | None, new: ServiceHealth) -> None:
        before = old.status if old else "unknown"
        if new.status in PROBLEMS:
            logger.warning("Service %s: %s -> %s (%s)", new.service, before, new.status, new.last_error)
        else:
            logger.info("Service %s: %s -> %s", new.service, before, new.status)

    return listener
