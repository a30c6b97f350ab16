"""Fixtures for the search service tests: a fresh database, the fake servers, and a builder."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest

from config.settings import Settings, load_settings
from devtools.fakes.search_servers import FakeSearchServers
from services.search import SearchServices, build_search
from services.storage import Cache, Database, HealthStore
from services.storage.sqlite.cache import SqliteCache
from services.storage.sqlite.health import SqliteHealthStore


class Clock:
    """A wall clock the test moves by hand (cache expiry without sleeping)."""

    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def cache(db: Database, clock: Clock) -> Cache:
    return SqliteCache(db, clock=clock)


@pytest.fixture
def health(db: Database) -> HealthStore:
    return SqliteHealthStore(db)


@pytest.fixture
async def fake() -> AsyncIterator[FakeSearchServers]:
    async with FakeSearchServers() as servers:
        yield servers


def make_settings(fake: FakeSearchServers, **overrides: Any) -> Settings:
    env = {**fake.settings_env(), "WEB_SEARCH_RATE_LIMIT_DELAY": "0", "API_REQUEST_TIMEOUT": "5",
           "WEB_SEARCH_TIMEOUT": "5"}
    env.update({k.upper(): str(v) for k, v in overrides.items()})
    return load_settings(env, require_token=False)


BuildSearch = Callable[..., SearchServices]


@pytest.fixture
async def build(fake: FakeSearchServers, session: aiohttp.ClientSession, cache: Cache,
                health: HealthStore) -> AsyncIterator[BuildSearch]:
    """build(**settings overrides, ddgs_factory=...) -> SearchServices wired to the fakes; closed after."""
    built: list[SearchServices] = []

    def factory(ddgs_factory: Any = None, **overrides: Any) -> SearchServices:
        services = build_search(make_settings(fake, **overrides), session, cache, health,
                                ddgs_factory=ddgs_factory)
        built.append(services)
        return services

    yield factory
    for services in built:
        await services.close()
