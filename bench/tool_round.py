"""Tool round benchmark: what one tool round adds before the first visible text, the model's own time excluded.

Run: .venv/bin/python bench/tool_round.py [--runs 30] [--model-delay 0.05]

The real ToolLoop, router, providers, tool registry, reminder service (SQLite) and search client
run against the fake model server (Ollama dialect) and the fake SearXNG, all on 127.0.0.1 in this
process, so one monotonic clock serves all. The server stamps when each request arrived, when its
first chunk left and when its stream ended. For each answer:
  bot time = first TextDelta out of the loop - start  -  the model's own time, where the model's time
             is (stream end - arrival) for a round that calls tools and (first chunk - arrival) for the
             round that answers.
Baseline: the same question answered without tools, in the same run. Reported: bot time per kind
(p50, p90), and what the tool round adds (tool bot time - baseline bot time). Goal: < 20 ms at p50.
Not run by CI.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402

from config.settings import load_settings  # noqa: E402
from devtools.fakes.llm_server import FakeLLMServer, FakeToolCall, Reply  # noqa: E402
from devtools.fakes.search_servers import FakeSearchServers, searxng_result  # noqa: E402
from services.llm.base import Message, TextDelta  # noqa: E402
from services.llm.factory import build_router  # noqa: E402
from services.reminders import ReminderService  # noqa: E402
from services.search import build_search  # noqa: E402
from services.storage import Database  # noqa: E402
from services.storage.sqlite.cache import SqliteCache  # noqa: E402
from services.storage.sqlite.health import SqliteHealthStore  # noqa: E402
from services.storage.sqlite.reminders import SqliteReminderStore  # noqa: E402
from services.storage.sqlite.usage import SqliteUsageStore  # noqa: E402
from services.tools import ToolContext, ToolLoop, build_tools  # noqa: E402
from services.web import PageFetcher  # noqa: E402

GOAL_MS = 20.0


@dataclass
class StampedServer(FakeLLMServer):
    stamps: list[tuple[float, float | None, float]] = field(default_factory=list)  # (arrived, first chunk, end)

    async def _serve_stream(self, request: Any, reply: Reply, content_type: str, frames: Any) -> Any:
        arrived, first = time.monotonic(), None
        original = frames.plan

        def plan(r: Reply) -> list:
            def stamp(build: Callable[[], bytes]) -> Callable[[], bytes]:
                def wrapped() -> bytes:
                    nonlocal first
                    first = first or time.monotonic()
                    return build()
                return wrapped
            return [stamp(b) for b in original(r)]

        frames.plan = plan
        response = await super()._serve_stream(request, reply, content_type, frames)
        self.stamps.append((arrived, first, time.monotonic()))
        return response


async def one(loop: ToolLoop, server: StampedServer, replies: list[Reply], allowed: tuple[str, ...]) -> float:
    """Bot time (ms) before the first visible text, the model's own time taken out."""
    server.stamps.clear()
    server.queue(*replies)
    ctx = ToolContext(member_id=1, member_name="Ann", guild_id=1, channel_id=2, member_words="How far is the Moon?")
    start, first_text = time.monotonic(), None
    async for event in loop.run([Message("user", "How far is the Moon?", "Ann")], ctx, allowed=allowed):
        if isinstance(event, TextDelta) and first_text is None:
            first_text = time.monotonic()
    assert first_text is not None
    *tool_rounds, (arrived, first, _) = server.stamps
    model = sum(end - a for a, _, end in tool_rounds) + ((first or arrived) - arrived)
    return (first_text - start - model) * 1000


def summary(values: list[float]) -> str:
    ordered = sorted(values)
    return f"p50 {statistics.median(ordered):6.2f} ms  p90 {ordered[int(len(ordered) * 0.9) - 1]:6.2f} ms"


async def main(runs: int, model_delay: float) -> None:
    with tempfile.TemporaryDirectory() as folder:
        async with (StampedServer() as server, FakeSearchServers() as search, aiohttp.ClientSession() as session,
                    await Database.open(Path(folder) / "bench.db") as db):
            search.searxng_default = lambda q: {"results": [searxng_result("Moon facts", "https://example.org/moon",
                                                                           "The Moon is 384,400 km away.")]}
            settings = load_settings({"DISCORD_TOKEN": "t" * 24, "OLLAMA_HOST": server.url, "API_CACHE_ENABLED": "false",
                                      "WEB_SEARCH_ENGINE": "searxng", "WEB_SEARCH_RATE_LIMIT_DELAY": "0",
                                      **search.settings_env()})
            health = SqliteHealthStore(db)
            router = build_router(settings, session, health=health, usage=SqliteUsageStore(db), cache=SqliteCache(db))
            searches = build_search(settings, session, SqliteCache(db), health)
            fetcher = PageFetcher()
            loop = ToolLoop(router, build_tools(search=searches, reminders=ReminderService(SqliteReminderStore(db)), fetcher=fetcher))
            answer = Reply(text="About 384,400 km [1].", first_token_delay=model_delay)
            kinds = {
                "baseline (no tools)": ([answer], ()),
                "current_time round": ([Reply(text="", tool_calls=[FakeToolCall("current_time")],
                                              first_token_delay=model_delay), answer], ("current_time",)),
                "web_search round": ([Reply(text="", tool_calls=[FakeToolCall("web_search", {"query": "moon"})],
                                            first_token_delay=model_delay), answer], ("web_search",)),
            }
            results: dict[str, list[float]] = {k: [] for k in kinds}
            for _ in range(3):  # warm-up: connections, imports, SQLite pages
                for replies, allowed in kinds.values():
                    await one(loop, server, list(replies), allowed)
            for _ in range(runs):  # interleaved, so drift hits every kind alike
                for name, (replies, allowed) in kinds.items():
                    results[name].append(await one(loop, server, list(replies), allowed))
            await fetcher.close()
            await searches.close()
    base = statistics.median(results["baseline (no tools)"])
    print(f"{runs} runs each, model delay {model_delay * 1000:.0f} ms per request (excluded)")
    for name, values in results.items():
        added = statistics.median(values) - base
        extra = "" if name.startswith("baseline") else \
            f"  added by the round: {added:6.2f} ms ({statistics.median(values) / base:.2f}x baseline)  " \
            f"{'OK' if added < GOAL_MS else 'OVER'} (goal < {GOAL_MS:g} ms)"
        print(f"{name:22s} bot time {summary(values)}{extra}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--model-delay", type=float, default=0.05)
    args = parser.parse_args()
    asyncio.run(main(args.runs, args.model_delay))
