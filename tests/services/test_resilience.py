"""RetryPolicy and CircuitBreaker, generic (the speech clients reuse them), on a real health store."""

from __future__ import annotations

import asyncio
import random

import pytest

from services.errors import PermanentError, TransientError
from services.resilience import CircuitBreaker, CircuitOpen, RetryPolicy, call_with_retry, is_service_fault
from services.storage import Database
from services.storage.sqlite.health import SqliteHealthStore


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def health(tmp_path):
    db = await Database.open(tmp_path / "bot.db")
    yield SqliteHealthStore(db)
    await db.close()


def test_backoff_doubles_with_jitter_and_stops_at_the_cap():
    policy = RetryPolicy(attempts=10, base_delay=1.0, max_delay=5.0, jitter=0.5)
    rng = random.Random(7)
    for retry, full in [(1, 1.0), (2, 2.0), (3, 4.0), (4, 5.0), (8, 5.0)]:
        delays = [policy.backoff(retry, rng) for _ in range(200)]
        assert all(full * 0.5 <= d <= full for d in delays)
        assert max(delays) - min(delays) > full * 0.3  # really jittered


def test_delay_for_honours_retry_after_up_to_the_cap_and_never_retries_permanent_errors():
    policy = RetryPolicy(attempts=3, base_delay=0.1, max_delay=10.0)
    assert policy.delay_for(1, TransientError("s", "429", status=429, retry_after=7)) == 7
    assert policy.delay_for(1, TransientError("s", "429", status=429, retry_after=11)) is None
    assert policy.delay_for(1, PermanentError("s", "bad key", status=401)) is None
    assert policy.delay_for(3, TransientError("s", "503", status=503)) is None  # attempts used up
    assert 0.05 <= policy.delay_for(1, TransientError("s", "reset")) <= 0.1


async def test_call_with_retry_retries_transient_errors_then_gives_up():
    calls, sleeps = [], []

    async def flaky():
        calls.append(1)
        if len(calls) < 3:
            raise TransientError("tts:kokoro", "connection reset")
        return "ok"

    async def sleep(delay):
        sleeps.append(delay)

    policy = RetryPolicy(attempts=3, base_delay=0.2, max_delay=1)
    assert await call_with_retry(policy, flaky, sleep=sleep) == "ok" and len(sleeps) == 2

    async def bad_key():
        calls.append(1)
        raise PermanentError("tts:kokoro", "401", status=401)

    calls.clear()
    with pytest.raises(PermanentError):
        await call_with_retry(policy, bad_key, sleep=sleep)
    assert len(calls) == 1


def test_service_fault_classification():
    assert is_service_fault(TransientError("s", "reset"))
    assert is_service_fault(PermanentError("s", "bad key", status=401))
    assert not is_service_fault(PermanentError("s", "bad request", status=400))


async def test_breaker_lifecycle_is_persisted(health):
    clock = Clock()
    breaker = CircuitBreaker(health, "stt:whisper", failure_threshold=2, cooldown=60, clock=clock)
    await breaker.before_call()
    await breaker.record_failure(TransientError("stt:whisper", "refused"))
    assert (breaker.state, (await health.get("stt:whisper")).status) == ("closed", "degraded")
    await breaker.record_failure(TransientError("stt:whisper", "refused"))
    assert breaker.state == "open"
    with pytest.raises(CircuitOpen, match="next try in 60 s"):
        await breaker.before_call()

    # Restart: a new breaker on the same store is open too.
    clock.now += 59
    revived = CircuitBreaker(health, "stt:whisper", failure_threshold=2, cooldown=60, clock=clock)
    await revived.restore()
    with pytest.raises(CircuitOpen, match="next try in 1 s"):
        await revived.before_call()
    clock.now += 1
    await revived.before_call()  # the half-open trial
    assert (await health.get("stt:whisper")).circuit_state == "half_open"
    with pytest.raises(CircuitOpen, match="trial"):
        await revived.before_call()
    await revived.record_success(12.0)
    row = await health.get("stt:whisper")
    assert (row.status, row.circuit_state, row.consecutive_failures, row.latency_ms) == ("healthy", "closed", 0, 12.0)


async def test_trip_opens_at_once_and_a_restored_half_open_counts_as_open(health):
    clock = Clock()
    breaker = CircuitBreaker(health, "rvc", failure_threshold=5, cooldown=10, clock=clock)
    await breaker.record_failure("401 bad key", trip=True)
    assert breaker.state == "open" and (await health.get("rvc")).status == "down"
    await health.set_circuit("rvc", "half_open", clock.now)
    revived = CircuitBreaker(health, "rvc", failure_threshold=5, cooldown=10, clock=clock)
    await revived.restore()
    assert revived.state == "open" and revived.retry_in() == 10


async def test_released_trial_lets_the_next_call_try(health):
    clock = Clock()
    breaker = CircuitBreaker(health, "search:web", failure_threshold=1, cooldown=5, clock=clock)
    await breaker.record_failure("timeout")
    clock.now += 5
    await breaker.before_call()
    breaker.release()  # e.g. cancelled: says nothing about the service
    await breaker.before_call()


async def test_healthy_successes_are_not_rewritten_every_call(health):
    clock = Clock()
    breaker = CircuitBreaker(health, "search:wikipedia", failure_threshold=3, cooldown=5, clock=clock,
                             refresh_interval=30)
    await breaker.record_success(5.0)
    await breaker.record_success(9.0)
    assert (await health.get("search:wikipedia")).latency_ms == 5.0
    clock.now += 31
    await breaker.record_success(9.0)
    assert (await health.get("search:wikipedia")).latency_ms == 9.0


async def test_a_failed_trial_reopens_even_below_the_threshold(health):
    clock = Clock()
    breaker = CircuitBreaker(health, "llm:openai", failure_threshold=5, cooldown=10, clock=clock)
    await breaker.record_failure("402 no credit", trip=True)  # open after one failure
    clock.now += 10
    await breaker.before_call()
    await breaker.record_failure(TransientError("llm:openai", "still broke"))
    assert breaker.state == "open" and breaker.retry_in() == 10
    assert (await health.get("llm:openai")).circuit_opened_at == clock.now


@pytest.mark.parametrize("backends", ["postgres"], indirect=True)
async def test_a_provider_found_dead_by_one_process_is_skipped_by_all(backends):
    """Two processes on one PostgreSQL, each with its own breaker for the same provider: when one opens
    it, the other refuses calls too, and when one closes it again, so does the other."""
    clock = Clock()
    one, other = await backends.open(), await backends.open()
    here = CircuitBreaker(one.health(clock=clock), "llm:openrouter", failure_threshold=2, cooldown=30, clock=clock)
    there_store = other.health(clock=clock)
    there = CircuitBreaker(there_store, "llm:openrouter", failure_threshold=2, cooldown=30, clock=clock)
    await one.start()
    await other.start()
    changed = asyncio.Condition()

    async def heard(service: str) -> None:
        async with changed:
            changed.notify_all()

    async def until_there_is(state: str) -> None:
        async with changed:
            await asyncio.wait_for(changed.wait_for(lambda: there.state == state), 5)

    there_store.watch(heard)  # added after the breaker's own watcher: runs once the breaker has re-read
    await there.before_call()  # closed: allowed
    there.release()
    await here.record_failure(TransientError("llm:openrouter", "402 out of credit"), trip=True)
    await until_there_is("open")
    with pytest.raises(CircuitOpen):
        await there.before_call()
    clock.now += 31  # cooldown over: the trial goes through in the first process; it succeeds
    await here.before_call()
    await here.record_success(120.0)
    await until_there_is("closed")
    assert there.failures == 0
    await there.before_call()
