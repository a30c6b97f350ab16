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

--cog: the same through the real Bot (cogs.chat, ChatTurns, the tool status line) on the Discord
emulator, asked by mentions: the end is the first message version showing the answer's text, as the
emulator stamped it (same clock). Both the first visible anything (the tool's status line) and the first
answer text are reported; the answer's text may wait for CHAT_STREAM_EDIT_INTERVAL (--interval) after
the status line was posted, our own edit pacing.
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


async def cog_path(runs: int, model_delay: float, interval: float) -> None:
    """Mentions to the real bot on the emulator: the tool round through ChatTurns and the cog."""
    from devtools.botrun import RunningBot
    from devtools.discord_emulator import DiscordEmulator
    from devtools.testenv import bot_test_env

    answer_text = "About 384,400 km [1]."
    async with StampedServer() as server, FakeSearchServers() as search:
        search.searxng_default = lambda q: {"results": [searxng_result("Moon facts", "https://example.org/moon",
                                                                       "The Moon is 384,400 km away.")]}
        emu = DiscordEmulator()
        await emu.start()
        with tempfile.TemporaryDirectory() as folder:
            env = {**bot_test_env(Path(folder) / "bot.db"), **emu.bot_env(), "LOG_LEVEL": "WARNING",
                   "OLLAMA_HOST": server.url, "API_CACHE_ENABLED": "false", "WEB_SEARCH_ENGINE": "searxng",
                   "WEB_SEARCH_RATE_LIMIT_DELAY": "0", "CHAT_STREAM_EDIT_INTERVAL": str(interval),
                   "MEMBER_RATE_PER_MINUTE": "0", **search.settings_env()}
            running = await RunningBot.start(load_settings(env), extensions=["cogs.chat"], timeout=20)
            try:
                general = emu.channel("general")

                async def ask(replies: list[Reply], n: int) -> tuple[float, float]:
                    server.stamps.clear()
                    server.queue(*replies)
                    member = emu.member("carol" if n % 2 else "dave")
                    sent = await emu.send_message(member, general, f"How far is the Moon? ({n})", mentions_bot=True)
                    start = sent.versions[0].at
                    message = await emu.wait_for_message(general, lambda m: bool(m.content), timeout=20)
                    await emu.wait_until(lambda: answer_text in message.content, timeout=20, message="the answer")
                    visible = message.versions[0].at if message.versions[0].content else \
                        next(v.at for v in message.versions if v.content)
                    text = next(v.at for v in message.versions if answer_text[:5] in v.content)
                    *tool_rounds, (arrived, first, _) = server.stamps
                    model = sum(end - a for a, _, end in tool_rounds) + ((first or arrived) - arrived)
                    await asyncio.sleep(interval)  # let the answer's final edit land before the next prompt
                    # the status line shows once the first round ended; the answer's text once the last began
                    before_visible = (tool_rounds[0][2] - tool_rounds[0][0]) if tool_rounds else model
                    return (visible - start - before_visible) * 1000, (text - start - model) * 1000

                answer = Reply(text=answer_text, first_token_delay=model_delay)
                kinds = {
                    "baseline (no tools)": lambda: [answer],
                    "current_time round": lambda: [Reply(text="", tool_calls=[FakeToolCall("current_time")],
                                                         first_token_delay=model_delay), answer],
                    "web_search round": lambda: [Reply(text="", tool_calls=[
                        FakeToolCall("web_search", {"query": "moon"})], first_token_delay=model_delay), answer],
                }
                results: dict[str, tuple[list[float], list[float]]] = {k: ([], []) for k in kinds}
                n = 0
                for warm in (True, False):
                    for _ in range(2 if warm else runs):
                        for name, replies in kinds.items():
                            n += 1
                            visible, text = await ask(replies(), n)
                            if not warm:
                                results[name][0].append(visible)
                                results[name][1].append(text)
            finally:
                await running.stop()
                await emu.stop()
    base = statistics.median(results["baseline (no tools)"][1])
    print(f"cog path: {runs} mentions each, model delay {model_delay * 1000:.0f} ms per request (excluded), "
          f"CHAT_STREAM_EDIT_INTERVAL={interval:g} s")
    for name, (visible, text) in results.items():
        added = statistics.median(text) - base
        extra = "" if name.startswith("baseline") else f"  answer text added: {added:7.2f} ms ({statistics.median(text) / base:.2f}x baseline)"
        print(f"{name:22s} first visible {summary(visible)}  first answer text {summary(text)}{extra}")


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
    parser.add_argument("--cog", action="store_true", help="through the real bot on the Discord emulator")
    parser.add_argument("--interval", type=float, default=0.2, help="CHAT_STREAM_EDIT_INTERVAL for --cog")
    args = parser.parse_args()
    asyncio.run(cog_path(args.runs, args.model_delay, args.interval) if args.cog else main(args.runs, args.model_delay))
