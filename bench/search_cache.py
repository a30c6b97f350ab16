"""Search cache benchmark: is a cache hit cheap enough to serve every repeated query from SQLite?

Measures, in one run:
  1. Cache.get latency (p50/p99) with 100,000 entries in the cache table (goal: p99 < 1 ms);
  2. a repeated /wiki (WikipediaClient.summary) answered from the cache vs from the network
     (a local fake Wikipedia on 127.0.0.1, so the network baseline is the best case), as a ratio.

Run: .venv/bin/python bench/search_cache.py [--entries 100000] [--lookups 5000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402

from config.settings import load_settings  # noqa: E402
from devtools.fakes.search_servers import FakeSearchServers, wiki_page  # noqa: E402
from services.search import build_search  # noqa: E402
from services.storage import Database  # noqa: E402
from services.storage.sqlite.cache import SqliteCache  # noqa: E402
from services.storage.sqlite.health import SqliteHealthStore  # noqa: E402

GOAL_P99_MS = 1.0
NAMESPACES = ("search:wikipedia", "search:web", "search:urban", "llm")


def percentile(samples: list[float], pct: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


async def timed(fn: Callable[[], Awaitable[object]], runs: int, warmup: int = 50) -> list[float]:
    for _ in range(warmup):
        await fn()
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        await fn()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def report(name: str, samples: list[float]) -> tuple[float, float]:
    p50, p99 = percentile(samples, 50), percentile(samples, 99)
    print(f"  {name:<34} p50 {p50:8.3f} ms   p99 {p99:8.3f} ms   mean {statistics.fmean(samples):8.3f} ms")
    return p50, p99


async def fill(db: Database, entries: int) -> list[tuple[str, str]]:
    """entries rows shaped like real cached answers (a ~1 kB JSON WikiSummary each)."""
    now = time.time()
    rows, keys = [], []
    for i in range(entries):
        namespace = NAMESPACES[i % len(NAMESPACES)]
        key = f"v1:en:Title number {i}"
        value = json.dumps({"found": True, "page": {
            "title": f"Title number {i}", "extract": "Lorem ipsum dolor sit amet. " * 30,
            "url": f"https://en.wikipedia.org/wiki/Title_number_{i}", "description": "benchmark page",
            "thumbnail": None, "kind": "standard", "options": [], "lang": "en", "from_search": False}})
        rows.append((namespace, key, value, now, now + 86400))
        keys.append((namespace, key))
    await db.executemany("INSERT INTO cache (namespace, key, value, created_at, expires_at) VALUES (?, ?, ?, ?, ?)",
                         rows)
    return keys


async def main(entries: int, lookups: int) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        db = await Database.open(Path(tmp) / "bench.db")
        try:
            print(f"Filling the cache table with {entries:,} entries ...")
            keys = await fill(db, entries)
            cache = SqliteCache(db, max_entries=entries * 2)
            rng = random.Random(42)

            print(f"\n1. Cache.get, {lookups:,} lookups of random keys ({entries:,} rows)")
            hit = report("hit", await timed(lambda: cache.get(*rng.choice(keys)), lookups))
            report("miss", await timed(lambda: cache.get("search:wikipedia", f"absent {rng.random()}"), lookups))

            print("\n2. Repeated /wiki: WikipediaClient.summary")
            async with FakeSearchServers() as fake, aiohttp.ClientSession() as session:
                fake.wiki_pages["Python (programming language)"] = wiki_page(
                    "Python (programming language)", "Python is a high-level, general-purpose language. " * 8)
                env = {**fake.settings_env(), "API_REQUEST_TIMEOUT": "10"}
                health = SqliteHealthStore(db)
                cached = build_search(load_settings(env, require_token=False), session, cache, health).wikipedia
                uncached = build_search(load_settings({**env, "API_CACHE_ENABLED": "false"}, require_token=False),
                                        session, cache, health).wikipedia
                runs = max(200, lookups // 10)
                network = report("from the network (local server)",
                                 await timed(lambda: uncached.summary("Python (programming language)"), runs))
                from_cache = report("from the cache",
                                    await timed(lambda: cached.summary("Python (programming language)"), runs))
        finally:
            await db.close()

    print("\nRatios (network / cache; higher is better)")
    print(f"  p50 x{network[0] / from_cache[0]:.1f}   p99 x{network[1] / from_cache[1]:.1f}")
    ok = hit[1] < GOAL_P99_MS and from_cache[1] < GOAL_P99_MS
    print(f"\nGoal: cache hit p99 < {GOAL_P99_MS} ms -> Cache.get {hit[1]:.3f} ms, /wiki from cache "
          f"{from_cache[1]:.3f} ms: {'MET' if ok else 'NOT MET'}")
    return 0 if ok else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--lookups", type=int, default=5_000)
    args = parser.parse_args()
    sys.exit(asyncio.run(main(args.entries, args.lookups)))
