"""Retry and circuit breaking for the speech clients, on the rules the LLM providers follow.

Same RetryPolicy (API_RETRY_*) and the same HealthStore-backed CircuitBreaker; what is specific
to speech is that an open circuit fails at once instead of being retried (the voice loop must
answer "voice output is down" quickly, not after 30 s of backoff), and that a stream can only be
retried until its first chunk has been handed to the caller.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TypeVar

from services.errors import ServiceError
from services.resilience import CircuitBreaker, CircuitOpen, RetryPolicy, is_service_fault

log = logging.getLogger(__name__)

T = TypeVar("T")
Sleep = Callable[[float], Awaitable[object]]


class Guard:
    """Wraps each call of one service in circuit checks, retries and health bookkeeping."""

    def __init__(self, service: str, *, breaker: CircuitBreaker | None = None,
                 policy: RetryPolicy | None = None, sleep: Sleep = asyncio.sleep) -> None:
        self.service = service
        self.breaker = breaker
        self.policy = policy or RetryPolicy(attempts=1)
        self._sleep = sleep

    async def restore(self) -> None:
        """Take over the circuit state persisted by the previous run."""
        if self.breaker is not None:
            await self.breaker.restore()

    async def call(self, operation: Callable[[], Awaitable[T]]) -> T:
        """Run `operation` with retries on transient errors; an open circuit fails immediately."""
        retry_number = 0
        while True:
            try:
                return await self._attempt(operation)
            except CircuitOpen:
                raise
            except ServiceError as exc:
                retry_number += 1
                delay = self.policy.delay_for(retry_number, exc)
                if delay is None:
                    raise
                log.info("%s failed (%s); retry %d in %.1f s", self.service, exc.cause, retry_number, delay)
                await self._sleep(delay)

    async def stream(self, open_stream: Callable[[], AsyncIterator[bytes]]) -> AsyncIterator[bytes]:
        """Iterate a stream, retrying it from scratch only until its first chunk has arrived.

        The first chunk counts as the success (it closes a half-open circuit); a failure later in
        the stream counts against the circuit and reaches the caller, who has already played audio.
        """

        async def first() -> tuple[AsyncIterator[bytes], bytes | None]:
            stream = open_stream()
            try:
                return stream, await anext(stream, None)
            except BaseException:
                await stream.aclose()  # type: ignore[attr-defined]
                raise

        iterator, chunk = await self.call(first)
        try:
            while chunk is not None:
                yield chunk
                chunk = await self._watched(lambda: anext(iterator, None), gate=False)
        finally:
            await iterator.aclose()  # type: ignore[attr-defined]

    async def _attempt(self, operation: Callable[[], Awaitable[T]]) -> T:
        started = time.perf_counter()
        result = await self._watched(operation)
        if self.breaker is not None:
            await self.breaker.record_success((time.perf_counter() - started) * 1000)
        return result

    async def _watched(self, operation: Callable[[], Awaitable[T]], *, gate: bool = True) -> T:
        """Await `operation`, counting a service fault against the circuit (success is the caller's)."""
        if self.breaker is None:
            return await operation()
        if gate:
            await self.breaker.before_call()
        started = time.perf_counter()
        try:
            return await operation()
        except ServiceError as exc:
            if is_service_fault(exc):
                await self.breaker.record_failure(exc, latency_ms=(time.perf_counter() - started) * 1000)
            else:
                self.breaker.release()
            raise
        except BaseException:
            self.breaker.release()
            raise
