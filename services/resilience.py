"""Retry with backoff and a circuit breaker, shared by every client that talks to a flaky server.

The breaker keeps its state in the service-health store: /health shows it, and after a restart a
provider whose circuit was open stays skipped until its cooldown ends instead of being hammered.
During a run the state lives in memory, so checking a closed or open circuit costs no I/O; only
changes (and an occasional refresh of a healthy row) are written. When another process writes the
row (several processes on PostgreSQL), the breaker re-reads it: a provider found dead by one process
is skipped by all.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from services.errors import ServiceError, TransientError
from services.storage.health import HealthStore, ServiceHealth

log = logging.getLogger(__name__)

T = TypeVar("T")
CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"
_FAULT_STATUSES = frozenset({401, 402, 403})


def is_service_fault(error: ServiceError) -> bool:
    """Does this failure say the service is unwell (count it), or only that this request was bad?"""
    fault = getattr(error, "service_fault", None)
    if fault is None:
        return error.transient or error.status in _FAULT_STATUSES
    return bool(fault)


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with jitter; a Retry-After longer than `max_delay` means "don't wait here"."""

    attempts: int = 3
    base_delay: float = 1.0
    max_delay: float = 30.0
    jitter: float = 0.5  # up to this fraction of each delay is randomly removed, to spread retries

    def backoff(self, retry_number: int, rng: random.Random | None = None) -> float:
        """Delay before retry number `retry_number` (1 = the first retry)."""
        delay = min(self.max_delay, self.base_delay * 2 ** (retry_number - 1))
        return delay * (1 - self.jitter * (rng or random).random())

    def delay_for(self, retry_number: int, error: ServiceError, rng: random.Random | None = None) -> float | None:
        """Seconds to wait before retrying after `error`, or None when it must not be retried."""
        if not error.transient or retry_number >= self.attempts:
            return None
        if error.retry_after is not None:
            if error.retry_after > self.max_delay:
                return None
            return max(error.retry_after, self.backoff(retry_number, rng))
        return self.backoff(retry_number, rng)


async def call_with_retry(policy: RetryPolicy, call: Callable[[], Awaitable[T]], *,
                          sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
                          rng: random.Random | None = None) -> T:
    """Await `call()` until it succeeds, a permanent error occurs, or the attempts are used up."""
    retry_number = 0
    while True:
        try:
            return await call()
        except ServiceError as exc:
            retry_number += 1
            delay = policy.delay_for(retry_number, exc, rng)
            if delay is None:
                raise
            log.info("%s failed (%s); retry %d in %.1f s", exc.service, exc.cause, retry_number, delay)
            await sleep(delay)


class CircuitOpen(TransientError):
    """The service failed repeatedly; calls are refused locally until the cooldown ends."""


class CircuitBreaker:
    """closed -> (threshold failures) open -> (cooldown) half_open: one trial -> closed or open again.

    The cool-down starts short (`cooldown`) and doubles each time a trial fails, up to `max_cooldown`;
    a success brings it back to the short value, so a blip costs seconds and a dead server is not
    hammered. `hurry()` lets a caller with no alternative make the trial before the cool-down ends.
    """

    def __init__(self, health: HealthStore, service: str, *, failure_threshold: int, cooldown: float,
                 max_cooldown: float | None = None, clock: Callable[[], float] = time.time,
                 refresh_interval: float = 30.0) -> None:
        self.service = service
        self._health = health
        self._threshold = failure_threshold
        self._base_cooldown = cooldown
        self._max_cooldown = max(cooldown, max_cooldown if max_cooldown is not None else cooldown)
        self._cooldown = cooldown
        self._settled: asyncio.Event | None = None  # set when the trial in flight ends
        self._clock = clock
        self._refresh_interval = refresh_interval
        self._state = CLOSED
        self._failures = 0
        self._opened_at: float | None = None
        self._trial_running = False
        self._status = "unknown"
        self._written_at = float("-inf")
        health.watch(self._changed_elsewhere)

    async def _changed_elsewhere(self, service: str) -> None:
        if service == self.service and not self._trial_running:
            await self.restore()

    @property
    def state(self) -> str:
        return self._state

    @property
    def failures(self) -> int:
        return self._failures

    @property
    def cooldown(self) -> float:
        """The current cool-down (seconds), grown by failed trials."""
        return self._cooldown

    def retry_in(self) -> float:
        """Seconds until an open circuit allows a trial (0 when it is not open)."""
        if self._state != OPEN or self._opened_at is None:
            return 0.0
        return max(0.0, self._opened_at + self._cooldown - self._clock())

    def check(self) -> None:
        """Raise CircuitOpen when a call would be refused now (no side effect: nothing is started)."""
        if self._state == OPEN and (wait := self.retry_in()) > 0:
            raise CircuitOpen(self.service, f"circuit open after {self._failures} failures; next try in {wait:.0f} s")

    async def hurry(self, wait: float) -> None:
        """Nothing else can answer: allow the half-open trial now instead of after the cool-down.

        When a trial is already in flight, wait (up to `wait` seconds) for its outcome instead of
        starting another one, so a server that just came back gets one request, not a stampede.
        """
        if self._state == OPEN:
            log.info("%s: no alternative is available; trying it before its cool-down ends", self.service)
            self._opened_at = self._clock() - self._cooldown
            self._state = HALF_OPEN
            await self._health.set_circuit(self.service, HALF_OPEN, self._opened_at)
        if self._trial_running and self._settled is not None and wait > 0:
            try:
                async with asyncio.timeout(wait):
                    await self._settled.wait()
            except TimeoutError:
                pass

    async def restore(self) -> None:
        """Take over the state persisted by a previous run (a half-open trial in flight counts as open)."""
        row = await self._health.get(self.service)
        if row is None:
            return
        self._failures = row.consecutive_failures
        self._status = row.status
        self._opened_at = row.circuit_opened_at
        self._state = OPEN if row.circuit_state in (OPEN, HALF_OPEN) else CLOSED
        if self._state == OPEN and self._opened_at is None:
            self._opened_at = self._clock()

    async def before_call(self) -> None:
        """Raise CircuitOpen when the call must not be made; may start the half-open trial."""
        if self._state == CLOSED:
            return
        if self._state == OPEN:
            wait = self.retry_in()
            if wait > 0:
                raise CircuitOpen(self.service, f"circuit open after {self._failures} failures; "
                                                f"next try in {wait:.0f} s")
            self._state = HALF_OPEN
            await self._health.set_circuit(self.service, HALF_OPEN, self._opened_at)
        if self._trial_running:
            raise CircuitOpen(self.service, "circuit half-open; a trial request is in flight")
        self._trial_running = True
        self._settled = asyncio.Event()

    def release(self) -> None:
        """The call ended without telling anything about the service (cancelled, bad request)."""
        self._end_trial()

    def _end_trial(self) -> None:
        self._trial_running = False
        if self._settled is not None:
            self._settled.set()
            self._settled = None

    async def record_success(self, latency_ms: float | None = None, *, detail: str | None = None) -> None:
        """A call (or a full health probe) succeeded: close the circuit. Written only on change or every
        refresh_interval."""
        self._end_trial()
        self._cooldown = self._base_cooldown
        now = self._clock()
        unchanged = self._state == CLOSED and self._failures == 0 and self._status == "healthy"
        if unchanged and detail is None and now - self._written_at < self._refresh_interval:
            return
        if self._state != CLOSED:
            log.info("%s recovered; circuit closed", self.service)
        self._state, self._failures, self._opened_at = CLOSED, 0, None
        self._status, self._written_at = "healthy", now
        await self._health.record_success(self.service, latency_ms, detail=detail)

    async def record_failure(self, error: ServiceError | str, *, latency_ms: float | None = None,
                             trip: bool = False) -> None:
        """A call failed in a way that is the service's fault; `trip` opens the circuit at once."""
        cause = error.cause if isinstance(error, ServiceError) else error
        self._failures += 1
        failed_trial = self._state == HALF_OPEN
        opening = trip or failed_trial or self._failures >= self._threshold
        self._status = "down" if opening else "degraded"
        self._written_at = self._clock()
        if opening:
            if failed_trial:
                self._cooldown = min(self._max_cooldown, self._cooldown * 2)
            elif self._state == CLOSED:
                self._cooldown = self._base_cooldown
            if self._state != OPEN:
                log.warning("%s circuit opened after %d failures (last: %s); retrying in %.0f s",
                            self.service, self._failures, cause, self._cooldown)
            self._state, self._opened_at = OPEN, self._clock()
        self._end_trial()  # waiters see the new state
        await self._health.record_failure(self.service, cause, latency_ms=latency_ms, status=self._status)
        if opening:
            await self._health.set_circuit(self.service, OPEN, self._opened_at)

    async def record_probe(self, latency_ms: float | None, *, detail: str | None = None,
                           degraded: bool = False) -> ServiceHealth:
        """A health probe reached the service but found it not right (e.g. a model missing): an open
        circuit becomes half-open, so the next real call is the trial at once. A fully healthy probe
        closes the circuit instead (record_success)."""
        if self._state == OPEN:
            self._state = HALF_OPEN
        healthy = self._state == CLOSED and self._failures == 0 and not degraded
        self._status = "healthy" if healthy else "degraded"
        self._written_at = self._clock()
        current = await self._health.get(self.service) or ServiceHealth(self.service)
        return await self._health.put(dataclasses.replace(
            current, status=self._status, latency_ms=latency_ms, checked_at=self._written_at,
            detail=detail, circuit_state=self._state, circuit_opened_at=self._opened_at,
            consecutive_failures=self._failures,
        ))
