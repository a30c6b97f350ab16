"""The SQLite cache stays bounded in a long run, not only after a restart (found by bench/soak.py)."""

from __future__ import annotations

from services.storage import Database
from services.storage.sqlite.cache import SqliteCache


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


async def rows(db: Database) -> int:
    row = await db.fetchone("SELECT COUNT(*) FROM cache")
    return row[0]


async def test_unique_keys_never_grow_the_table_far_past_max_entries(db: Database) -> None:
    cache = SqliteCache(db, max_entries=1000, clock=Clock())
    for i in range(5000):
        await cache.set("search:web", f"query {i}", {"n": i}, ttl=3600 + i)
    assert await rows(db) <= 1100
    assert await cache.get("search:web", "query 4999") == {"n": 4999}  # the newest are kept


async def test_expired_rows_are_dropped_while_running(db: Database) -> None:
    clock = Clock()
    cache = SqliteCache(db, max_entries=100_000, purge_interval=300, clock=clock)
    for i in range(50):
        await cache.set("search:wikipedia", f"page {i}", [i], ttl=60)
    clock.now += 301  # all 50 expired, and the purge interval has passed
    await cache.set("search:wikipedia", "fresh", ["x"], ttl=60)
    assert await rows(db) == 1
