"""LLM router benchmark: what the router adds to a streamed answer, and what failover costs.

Run: .venv/bin/python bench/llm_router.py [--runs 400]

Against the local fake LLM server (devtools/fakes/llm_server.py) on 127.0.0.1, with a real SQLite
database, measured in one run (requests interleaved so drift hits both sides alike):
  1. Router overhead: a streamed answer (20 chunks) through LLMRouter.stream vs the same request
     straight to the provider client, whole answer and time to first token. Goal: < 1 ms added at p50.
  2. Failover, time to first token when the primary (Ollama) refuses connections and an
     OpenAI-compatible fallback answers: circuit still closed (every request tries the primary
     first), and circuit open (the primary is skipped), vs a healthy direct request to the fallback.
     Goal: an open circuit adds < 1 ms.
Not run by CI.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from config.settings import load_settings  # noqa: E402
from devtools.fakes.llm_server import FakeLLMServer, Reply, refused_url  # noqa: E402
from services.llm.base import LLMProvider, Message, TextDelta  # noqa: E402
from services.llm.factory import build_router  # noqa: E402
from services.llm.router import LLMRouter  # noqa: E402
from services.storage import Database  # noqa: E402
from services.storage.sqlite.cache import SqliteCache  # noqa: E402
from services.storage.sqlite.health import SqliteHealthStore  # noqa: E402
from services.storage.sqlite.usage import SqliteUsageStore  # noqa: E402

ASK = [Message("system", "Be brief."), Message("user", "Tell me about benchmarks.", name="Ann")]
GOAL_MS = 1.0


def percentile(samples: list[float], pct: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


def report(name: str, samples: list[float]) -> tuple[float, float]:
    p50, p99 = percentile(samples, 50), percentile(samples, 99)
    print(f"  {name:<48} p50 {p50:8.3f} ms   p99 {p99:8.3f} ms   mean {statistics.fmean(samples):8.3f} ms")
    return p50, p99


async def measure(events: AsyncIterator[object]) -> tuple[float, float]:
    """(time to first token, time to the end) in ms for one stream."""
    started = time.perf_counter()
    first = None
    async for event in events:
        if first is None and isinstance(event, TextDelta):
            first = time.perf_counter()
    end = time.perf_counter()
    assert first is not None
    return (first - started) * 1000, (end - started) * 1000


async def compare(runs: int, sides: dict[str, Callable[[], AsyncIterator[object]]]) -> dict[str, tuple[list, list]]:
    results: dict[str, tuple[list, list]] = {name: ([], []) for name in sides}
    for i in range(runs + 30):
        for name, make in sides.items():
            ttft, total = await measure(make())
            if i >= 30:  # warm-up
                results[name][0].append(ttft)
                results[name][1].append(total)
    return results


def router_for(env: dict[str, str], session: aiohttp.ClientSession, db: Database) -> LLMRouter:
    settings = load_settings({"DISCORD_TOKEN": "t" * 24, "API_CACHE_ENABLED": "false", **env})
    return build_router(settings, session, health=SqliteHealthStore(db), usage=SqliteUsageStore(db), cache=SqliteCache(db))


async def overhead(runs: int, session: aiohttp.ClientSession, tmp: Path) -> float:
    print(f"1. Router overhead, streamed answer of 20 chunks ({runs} runs each)")
    async with FakeLLMServer() as server:
        server.default = Reply(chunks=[f"word{i} " for i in range(20)])
        db = await Database.open(tmp / "overhead.db")
        router = router_for({"LLM_PROVIDER": "ollama", "OLLAMA_HOST": server.url}, session, db)
        direct: LLMProvider = router.providers["ollama"]
        results = await compare(runs, {"direct": lambda: direct.stream(ASK), "router": lambda: router.stream(ASK)})
        await db.close()
    (d_ttft, d_total), (r_ttft, r_total) = results["direct"], results["router"]
    d50, _ = report("direct provider, whole answer", d_total)
    r50, _ = report("router, whole answer", r_total)
    report("direct provider, first token", d_ttft)
    report("router, first token", r_ttft)
    added = r50 - d50
    print(f"  router/direct at p50: {r50 / d50:.3f}x, added {added:+.3f} ms (goal < {GOAL_MS} ms)")
    return added


async def failover(runs: int, session: aiohttp.ClientSession, tmp: Path) -> float:
    print(f"2. Failover, time to first token ({runs} runs each)")
    async with FakeLLMServer() as backup:
        down = refused_url()
        env = {"LLM_PROVIDER": "ollama", "OLLAMA_HOST": down, "LLM_FALLBACK_ENABLED": "true",
               "LLM_FALLBACK_MODELS": "openai:gpt-4o-mini", "OPENAI_BASE_URL": backup.openai_url,
               "API_RETRY_ATTEMPTS": "1"}
        db_closed = await Database.open(tmp / "closed.db")
        closed = router_for({**env, "LLM_CIRCUIT_FAILURE_THRESHOLD": "1000000"}, session, db_closed)
        db_open = await Database.open(tmp / "open.db")
        opened = router_for({**env, "LLM_CIRCUIT_FAILURE_THRESHOLD": "1", "LLM_CIRCUIT_COOLDOWN": "3600"},
                            session, db_open)
        direct = opened.providers["openai"]
        results = await compare(runs, {
            "direct": lambda: direct.stream(ASK),
            "closed": lambda: closed.stream(ASK),
            "open": lambda: opened.stream(ASK),
        })
        assert opened.breakers["ollama"].state == "open"
        await db_closed.close()
        await db_open.close()
    base, _ = report("healthy fallback, direct", results["direct"][0])
    first, _ = report("primary refuses, circuit closed (1st request)", results["closed"][0])
    skip, _ = report("primary refuses, circuit open", results["open"][0])
    print(f"  circuit closed: {first / base:.2f}x, added {first - base:+.3f} ms at p50")
    print(f"  circuit open:   {skip / base:.2f}x, added {skip - base:+.3f} ms at p50 (goal < {GOAL_MS} ms)")
    return skip - base


async def main(runs: int) -> None:
    logging.getLogger("services").setLevel(logging.ERROR)  # thousands of expected failover warnings
    with tempfile.TemporaryDirectory() as tmp:
        async with aiohttp.ClientSession() as session:
            added = await overhead(runs, session, Path(tmp))
            skip = await failover(runs, session, Path(tmp))
    verdict = "met" if added < GOAL_MS and skip < GOAL_MS else "NOT met"
    print(f"Goals {verdict}: router adds {added:.3f} ms, open circuit adds {skip:.3f} ms (p50)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=400)
    asyncio.run(main(parser.parse_args().runs))
