"""The shared TTL cache on both backends: expiry, overwrite, namespaces, purge, counters, survival across reopen."""

from __future__ import annotations

import pytest

from services.storage.backend import Backend
from tests.conftest import Backends


class Clock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


async def test_set_get_expire(backend: Backend) -> None:
    clock = Clock()
    cache = backend.cache(clock=clock)
    await cache.set("ns", "k", {"a": [1, "é"]}, ttl=10)
    assert await cache.get("ns", "k") == {"a": [1, "é"]}
    clock.now += 9.9
    assert await cache.get("ns", "k") == {"a": [1, "é"]}
    clock.now += 0.2
    assert await cache.get("ns", "k") is None


async def test_overwrite_refreshes_value_and_ttl(backend: Backend) -> None:
    clock = Clock()
    cache = backend.cache(clock=clock)
    await cache.set("ns", "k", 1, ttl=5)
    clock.now += 4
    await cache.set("ns", "k", 2, ttl=5)
    clock.now += 4
    assert await cache.get("ns", "k") == 2


async def test_namespaces_are_separate_and_clearable(backend: Backend) -> None:
    cache = backend.cache()
    await cache.set("a", "k", "in a", ttl=60)
    await cache.set("b", "k", "in b", ttl=60)
    assert await cache.get("a", "k") == "in a"
    assert await cache.get("b", "k") == "in b"
    assert await cache.namespaces() == ["a", "b"]
    assert await cache.clear("a") == 1
    assert await cache.get("a", "k") is None and await cache.get("b", "k") == "in b"
    assert await cache.delete("b", "k") is True
    assert await cache.delete("b", "k") is False
    assert await cache.clear() == 0


async def test_purge_removes_expired_and_trims_to_max(backend: Backend) -> None:
    clock = Clock()
    cache = backend.cache(clock=clock, max_entries=3)
    for i in range(6):
        await cache.set("ns", str(i), i, ttl=10 + i)
    await cache.set("ns", "short", 0, ttl=1)
    clock.now += 2
    removed = await cache.purge_expired()
    assert removed == 4  # "short" expired, then the 3 soonest-expiring of the 6
    assert [await cache.get("ns", str(i)) for i in range(6)] == [None, None, None, 3, 4, 5]


async def test_counters_and_stats(backend: Backend) -> None:
    cache = backend.cache()
    assert (await cache.stats()).hit_rate is None
    await cache.set("ns", "k", True, ttl=60)
    await cache.get("ns", "k")
    await cache.get("ns", "k")
    await cache.get("ns", "missing")
    stats = await cache.stats()
    assert (stats.entries, stats.hits, stats.misses) == (1, 2, 1)
    assert stats.hit_rate == pytest.approx(2 / 3)
    assert cache.hits["ns"] == 2 and cache.misses["ns"] == 1


async def test_values_survive_reopen(backends: Backends) -> None:
    first = await backends.open()
    await first.cache().set("ns", "k", [1, 2], ttl=60)
    await first.close()
    assert await (await backends.open()).cache().get("ns", "k") == [1, 2]


async def test_two_processes_share_one_cache(backends: Backends) -> None:
    """What one process cached, another reads (PostgreSQL: two pools; SQLite: two connections)."""
    one, other = (await backends.open()).cache(), (await backends.open()).cache()
    await one.set("search:web", "q", {"hits": 3}, ttl=60)
    assert await other.get("search:web", "q") == {"hits": 3}
    assert await other.clear("search:web") == 1
    assert await one.get("search:web", "q") is None


async def test_none_and_zero_ttl(backend: Backend) -> None:
    cache = backend.cache()
    with pytest.raises(ValueError):
        await cache.set("ns", "k", None, ttl=60)
    await cache.set("ns", "k", 1, ttl=0)
    assert await cache.get("ns", "k") is None
