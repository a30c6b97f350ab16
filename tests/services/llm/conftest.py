"""Fixtures for the LLM tests: real fake servers, a real database, a router built from settings."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from config.settings import Settings, load_settings
from devtools.fakes.llm_server import FakeLLMServer
from services.llm.factory import build_router
from services.llm.router import LLMRouter
from services.storage.sqlite.cache import SqliteCache
from services.storage.sqlite.health import SqliteHealthStore
from services.storage.sqlite.usage import SqliteUsageStore

# Short but safe limits: every deadline a test does not mean to hit is far above what it needs.
FAST_ENV = {
    "DISCORD_TOKEN": "t" * 24,
    "LLM_CONNECT_TIMEOUT": "2",
    "LLM_FIRST_TOKEN_TIMEOUT": "5",
    "LLM_TOKEN_GAP_TIMEOUT": "5",
    "LLM_TOTAL_TIMEOUT": "20",
    "API_RETRY_ATTEMPTS": "3",
    "API_RETRY_DELAY": "0.5",
    "API_RETRY_MAX_DELAY": "10",
    "API_CACHE_ENABLED": "false",
}


class RecordedSleeps:
    """Stands in for asyncio.sleep in the router's backoff: records the delay, returns at once."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)


class Clock:
    """A wall clock the test moves by hand (circuit cooldowns, UTC days)."""

    def __init__(self, now: float = 1_750_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def settings(**env: str) -> Settings:
    return load_settings({**FAST_ENV, **env})


@pytest.fixture
async def server() -> AsyncIterator[FakeLLMServer]:
    async with FakeLLMServer() as s:
        yield s


@pytest.fixture
async def backup() -> AsyncIterator[FakeLLMServer]:
    """A second server, for fallback providers."""
    async with FakeLLMServer() as s:
        yield s


@pytest.fixture
def sleeps() -> RecordedSleeps:
    return RecordedSleeps()


@pytest.fixture
def make_router(session, db, sleeps) -> Callable[..., LLMRouter]:
    """make_router(ENV=value, ...) -> a router built by the real factory on the shared database."""

    def make(clock: Callable[[], float] = time.time, **env: Any) -> LLMRouter:
        return build_router(settings(**env), session, health=SqliteHealthStore(db, clock=clock),
                            usage=SqliteUsageStore(db, clock=clock), cache=SqliteCache(db, clock=clock), clock=clock,
                            sleep=sleeps)

    return make
