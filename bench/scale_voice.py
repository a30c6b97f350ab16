"""Concurrent voice sessions, for bench/scale.py: how many one bot process carries with its outgoing
audio still sent every 20 ms, against the same sessions shared by two processes.

Real bot processes (`python main.py`, one per shard, on one PostgreSQL) against the local Discord with
N servers; in each a member sits in Voice, runs /join, then /say a long text (the Kokoro stand-in
answers a steady tone, 50 ms of audio per character). The player threads of discord.py encode and
send a 20 ms Opus frame each; the local Discord's voice server timestamps every packet as it arrives
(same machine, loopback). Jitter of a packet = |its gap after the previous one of the stream - 20 ms|,
over a 5-second window while every stream plays. The receiving side shares the 2 cores, so its own
work counts against the result: a pessimistic figure.
"""

from __future__ import annotations

import asyncio
import gc
import itertools
import math
import sys
import tempfile
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from devtools.discord_emulator import DiscordEmulator
from devtools.discord_emulator.clock import Clock
from devtools.discord_emulator.process import BotProcess
from devtools.discord_emulator.snowflake import Snowflakes
from devtools.discord_emulator.world import World, add_standard_guild
from devtools.fakes.speech_servers import FakeKokoro
from devtools.testenv import bot_test_env

FRAME = 0.020
WINDOW = 5.0
SAY = "a" * 400  # 20 s of audio from the Kokoro stand-in


@dataclass
class VoiceResult:
    processes: int
    sessions: int
    jitter_p50_ms: float
    jitter_p99_ms: float
    late_frames: int  # gaps over 25 ms
    frames: int
    reference_p99_ms: float  # a bare sender in its own process, in the same window: the machine's floor


# A plain process sending one datagram every 20 ms, paced as discord.py's player paces its frames.
REFERENCE = """
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
port, seconds = int(sys.argv[1]), float(sys.argv[2])
start = time.perf_counter()
for loops in range(int(seconds / 0.02)):
    s.sendto(b"x" * 100, ("127.0.0.1", port))
    time.sleep(max(0.0, start + 0.02 * (loops + 1) - time.perf_counter()))
"""


class Arrivals(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.times: list[float] = []

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.times.append(asyncio.get_running_loop().time())


def jitter_ms(arrivals: list[float]) -> list[float]:
    return [abs((b - a) - FRAME) * 1000 for a, b in itertools.pairwise(sorted(arrivals))]


def world(clock: Clock, snowflakes: Snowflakes, *, guilds: int, shards: int) -> World:
    made = World(clock, snowflakes)
    for i in range(guilds):
        add_standard_guild(made, f"Voice Guild {i + 1}", shard=(i % shards, shards) if shards > 1 else None)
    if shards > 1:
        made.recommended_shards = shards
    return made


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)] if ordered else math.nan


async def run(processes: int, sessions: int, cluster: Any) -> VoiceResult:
    emu = DiscordEmulator(world=partial(world, guilds=sessions, shards=processes))
    await emu.start()
    bots: list[BotProcess] = []
    try:
        async with FakeKokoro() as kokoro, cluster.database() as dsn:
            with tempfile.TemporaryDirectory() as tmp:
                for shard in range(processes):
                    env = {**bot_test_env(Path(tmp) / "bot.db"), **emu.bot_env(), "LOG_LEVEL": "WARNING",
                           "KOKORO_API_URL": kokoro.url, "DATABASE_URL": dsn, "HEALTH_CHECK_INTERVAL": "60",
                           "MEMBER_RATE_PER_MINUTE": "0"}  # one alice /says in every server: no rate limit
                    if processes > 1:
                        env.update({"SHARD_COUNT": str(processes), "SHARD_IDS": str(shard)})
                    bots.append(await BotProcess.start(emu, env, cwd=Path(tmp)))
                    await bots[-1].wait_ready(shards=[shard] if processes > 1 else None, timeout=60)
                await asyncio.sleep(2.5)  # discord.py's on_ready follows IDENTIFY
                for guild in emu.guilds:
                    alice = emu.member("alice", guild=guild)
                    await emu.join_voice(alice, emu.channel("Voice", guild=guild))
                    joined = await emu.invoke(alice, emu.channel("general", guild=guild), "join")
                    assert "Joined" in (await joined.wait_done(timeout=60)).text
                    await emu.voice.wait_for_session(guild.id, timeout=60)
                for guild in emu.guilds:
                    said = await emu.invoke(emu.member("alice", guild=guild), emu.channel("general", guild=guild),
                                            "say", text=SAY)
                    assert "Saying it" in (await said.wait_done(timeout=20)).text
                for guild in emu.guilds:
                    await emu.voice.wait_for_audio(guild.id, seconds=1.0, timeout=20)
                await asyncio.sleep(1.0)
                # The receiving side's own pauses are not the bot's: no garbage collection in this
                # process (the local Discord keeps every packet) while it timestamps arrivals.
                loop = asyncio.get_running_loop()
                transport, reference = await loop.create_datagram_endpoint(Arrivals, local_addr=("127.0.0.1", 0))
                port = transport.get_extra_info("sockname")[1]
                gc.collect()
                gc.disable()
                try:
                    sender = await asyncio.create_subprocess_exec(sys.executable, "-c", REFERENCE, str(port),
                                                                  str(WINDOW + 0.5))
                    await asyncio.sleep(0.25)
                    start = loop.time()
                    await asyncio.sleep(WINDOW)
                    end = start + WINDOW
                finally:
                    gc.enable()
                await sender.wait()
                transport.close()
                floor = jitter_ms([t for t in reference.times if start <= t <= end])
                jitters: list[float] = []
                frames = 0
                for guild in emu.guilds:
                    arrivals = [p.arrival for p in emu.voice.packets_from_bot(guild.id) if start <= p.arrival <= end]
                    frames += len(arrivals)
                    jitters += jitter_ms(arrivals)
    finally:
        for bot in bots:
            await bot.stop()
        emu.strict = False
        await emu.stop()
    return VoiceResult(processes, sessions, percentile(jitters, 0.5), percentile(jitters, 0.99),
                       sum(1 for j in jitters if j > 5.0 and j + FRAME * 1000 > 25), frames, percentile(floor, 0.99))


def median_result(runs: list[VoiceResult]) -> VoiceResult:
    """The run with the median p99 (a shared 2-core machine has pauses that are not the bot's)."""
    return sorted(runs, key=lambda r: r.jitter_p99_ms)[len(runs) // 2]


async def capacity(processes: int, cluster: Any, counts: list[int], *, repeats: int = 3,
                   goal_ms: float = 5.0) -> list[VoiceResult]:
    """The median of `repeats` runs for growing session counts; stops after the first that misses the goal."""
    results = []
    for sessions in counts:
        if sessions < processes:
            continue
        started = time.monotonic()
        runs = [await run(processes, sessions, cluster) for _ in range(repeats)]
        result = median_result(runs)
        results.append(result)
        print(f"  voice: {processes} process(es), {sessions} sessions: p99 jitter "
              f"{', '.join(f'{r.jitter_p99_ms:.2f}' for r in runs)} ms (reference "
              f"{', '.join(f'{r.reference_p99_ms:.2f}' for r in runs)}) ({time.monotonic() - started:.0f} s)", flush=True)
        if result.jitter_p99_ms >= goal_ms:
            break
    return results
