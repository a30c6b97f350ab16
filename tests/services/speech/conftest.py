"""Fixtures for the speech tests: an HTTP session, a real health store, guards that never wait."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest

from services.resilience import CircuitBreaker, RetryPolicy
from services.speech.guard import Guard
from services.storage import Database, HealthStore
from services.storage.sqlite.health import SqliteHealthStore


class RecordedSleeps:
    """Stands in for asyncio.sleep in the retry backoff: records the delay, returns at once."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)


@pytest.fixture
async def health(tmp_path) -> AsyncIterator[HealthStore]:
    db = await Database.open(tmp_path / "bot.db")
    try:
        yield SqliteHealthStore(db)
    finally:
        await db.close()


@pytest.fixture
def sleeps() -> RecordedSleeps:
    return RecordedSleeps()


@pytest.fixture
def make_guard(health: HealthStore, sleeps: RecordedSleeps) -> Callable[..., Guard]:
    """A guard with a real breaker on the real health store; backoff recorded, not slept."""

    def make(service: str, *, attempts: int = 3, threshold: int = 3, cooldown: float = 60.0) -> Guard:
        breaker = CircuitBreaker(health, service, failure_threshold=threshold, cooldown=cooldown)
        policy = RetryPolicy(attempts=attempts, base_delay=0.5, max_delay=10.0)
        return Guard(service, breaker=breaker, policy=policy, sleep=sleeps)

    return make
