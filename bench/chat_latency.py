"""Chat streaming benchmark: the delay the bot adds between the model's first token and the first
visible text in Discord, and how many edits an answer takes against CHAT_STREAM_EDIT_INTERVAL.

Run: .venv/bin/python bench/chat_latency.py [--runs 30] [--interval 1.0]

The real Bot (cogs.chat) runs against the Discord emulator (devtools/discord_emulator) and the fake
Ollama server (devtools/fakes/llm_server.py), all on 127.0.0.1 in this process, so one monotonic clock
serves all three: the server stamps the moment it writes the first answer chunk, the emulator stamps
every message version. For each prompt (alternately `/chat` and a mention):
  model TTFT  = first chunk written - request received (the baseline, set by --model-ttft)
  bot added   = first visible text in the emulator - first chunk written. Goal: < 50 ms at p50.
Edits per answer are counted against the most the interval allows for the answer's duration.
Not run by CI.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import math
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from config.settings import load_settings  # noqa: E402
from devtools.botrun import RunningBot  # noqa: E402
from devtools.discord_emulator import DiscordEmulator  # noqa: E402
from devtools.discord_emulator.records import MessageRecord  # noqa: E402
from devtools.fakes.llm_server import FakeLLMServer, Reply  # noqa: E402
from devtools.testenv import bot_test_env  # noqa: E402

GOAL_MS = 50.0


@dataclass
class TimedLLMServer(FakeLLMServer):
    """The fake Ollama server, also stamping (monotonic) when each request arrived and its first chunk left."""

    received_at: list[float] = field(default_factory=list)
    first_chunk_at: list[float] = field(default_factory=list)

    async def _serve_stream(self, request: Any, reply: Reply, content_type: str, frames: Any) -> Any:
        self.received_at.append(time.monotonic())
        original, stamped = frames.chunk, False

        def chunk(text: str) -> bytes:
            nonlocal stamped
            if not stamped:
                stamped = True
                self.first_chunk_at.append(time.monotonic())
            return original(text)

        frames.chunk = chunk
        return await super()._serve_stream(request, reply, content_type, frames)


def percentile(samples: list[float], pct: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


def report(name: str, samples: list[float]) -> tuple[float, float]:
    p50, p99 = percentile(samples, 50), percentile(samples, 99)
    print(f"  {name:<34} p50 {p50:8.1f} ms   p99 {p99:8.1f} ms   mean {statistics.fmean(samples):8.1f} ms")
    return p50, p99


async def start_bot(emu: DiscordEmulator, llm: FakeLLMServer, directory: Path, interval: float) -> RunningBot:
    env = {**bot_test_env(directory / "bot.db"), **emu.bot_env(), "LOG_LEVEL": "WARNING", "OLLAMA_HOST": llm.url,
           "CHAT_STREAM_EDIT_INTERVAL": str(interval), "CHAT_USER_COOLDOWN": "0"}
    return await RunningBot.start(load_settings(env), extensions=["cogs.chat"], timeout=20)


def first_text_at(message: MessageRecord) -> float:
    return next(v.at for v in message.versions if v.content)


async def run(runs: int, interval: float, model_ttft: float, chunks: int, token_delay: float) -> None:
    words = [f"token{i} " for i in range(chunks)]
    answer = "".join(words)
    llm = TimedLLMServer()
    await llm.start()
    emu = DiscordEmulator()
    await emu.start()
    with tempfile.TemporaryDirectory() as directory:
        running = await start_bot(emu, llm, Path(directory), interval)
        try:
            general = emu.channel("general")
            added: dict[str, list[float]] = {"/chat": [], "mention": []}
            ttft: list[float] = []
            edits: list[int] = []
            allowed: list[int] = []
            for i in range(runs):
                llm.queue(Reply(chunks=words, first_token_delay=model_ttft, token_delay=token_delay))
                member = emu.member("carol" if i % 2 else "dave")
                if i % 2 == 0:
                    inter = await emu.invoke(member, general, "chat", prompt=f"question {i}")
                    message = (await inter.wait_done(timeout=20)).original
                    kind = "/chat"
                else:
                    await emu.send_message(member, general, f"question {i}", mentions_bot=True)
                    message = await emu.wait_for_message(general, lambda m: bool(m.content), timeout=20)
                    kind = "mention"
                await emu.wait_until(lambda m=message: m.content == answer, timeout=20, message="the whole answer")
                shown = [v.at for v in message.versions if v.content]
                added[kind].append((shown[0] - llm.first_chunk_at[-1]) * 1000)
                ttft.append((llm.first_chunk_at[-1] - llm.received_at[-1]) * 1000)
                edits.append(len(shown) - 1)
                duration = shown[-1] - shown[0]
                allowed.append(math.floor(duration / interval + 1e-6) + 1)
            print(f"chat latency: {runs} answers of {chunks} chunks every {token_delay * 1000:.0f} ms, "
                  f"model TTFT {model_ttft * 1000:.0f} ms, CHAT_STREAM_EDIT_INTERVAL={interval:g} s")
            ttft_p50, _ = report("model time to first token", ttft)
            all_added = added["/chat"] + added["mention"]
            for kind, samples in added.items():
                report(f"bot added, {kind}", samples)
            p50, p99 = report("bot added, all", all_added)
            print(f"  added / model TTFT at p50: {p50 / ttft_p50:.3f}   goal: < {GOAL_MS:.0f} ms added "
                  f"-> {'met' if p50 < GOAL_MS else 'NOT met'} (p99 {p99:.1f} ms)")
            print(f"  edits per answer: mean {statistics.fmean(edits):.2f}, max {max(edits)}; "
                  f"most the interval allows for each answer's duration: mean {statistics.fmean(allowed):.2f}; "
                  f"answers over the limit: {sum(e > a for e, a in zip(edits, allowed, strict=True))}")
        finally:
            await running.stop()
            await emu.stop()
            await llm.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--interval", type=float, default=1.0, help="CHAT_STREAM_EDIT_INTERVAL (seconds)")
    parser.add_argument("--model-ttft", type=float, default=0.2, help="the fake model's time to first token (s)")
    parser.add_argument("--chunks", type=int, default=60)
    parser.add_argument("--token-delay", type=float, default=0.04, help="seconds between chunks")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    asyncio.run(run(args.runs, args.interval, args.model_ttft, args.chunks, args.token_delay))


if __name__ == "__main__":
    main()
