"""Load: 200 members send a mix of /chat, /ask, /search, /wiki, /remind and mentions within 10 seconds.

The bot, the emulator and the fake services share this process's event loop, so the lag measured
here is the loop of all three together: an upper bound on the bot's own lag (bench/soak.py measures
the bot alone, in its own process).
"""

from __future__ import annotations

import asyncio
import logging
import statistics
import time
from typing import Any

from devtools.discord_emulator import DiscordEmulator
from devtools.testenv import TEXT_COGS, service_env
from devtools.traffic import KINDS, Traffic
from tests.hardening.probes import LagProbe, bot_tasks, project_objects

MEMBERS = 200
WINDOW = 10.0
log = logging.getLogger(__name__)


async def make_crowd(emu: DiscordEmulator, members: int, channels: int) -> tuple[list[Any], list[Any]]:
    people = [await emu.add_member(f"member{i:03d}") for i in range(members)]
    rooms = [emu.channel("general"), emu.channel("random")]
    rooms += [await emu.add_channel(f"room{i}") for i in range(channels - len(rooms))]
    return people, rooms


async def run_wave(traffic: Traffic, people: list[Any], rooms: list[Any], window: float) -> list[Any]:
    """Each member fires one prompt at an even pace over `window` seconds; returns what was sent."""
    start = time.monotonic()
    fired = []
    for i, member in enumerate(people):
        due = start + window * i / len(people)
        if (wait := due - time.monotonic()) > 0:
            await asyncio.sleep(wait)  # pacing arrivals, not waiting for an outcome
        fired.append(await traffic.fire(KINDS[i % len(KINDS)], member, rooms[i % len(rooms)]))
    return fired


def summary(values: list[float]) -> str:
    q = statistics.quantiles(values, n=100, method="inclusive")
    return f"p50 {q[49] * 1000:.0f} ms, p99 {q[98] * 1000:.0f} ms, max {max(values) * 1000:.0f} ms"


async def test_two_hundred_members_within_ten_seconds(bot_factory, emulator: DiscordEmulator, llm, search) -> None:
    bot = await bot_factory(extensions=TEXT_COGS, **service_env(llm, search))
    people, rooms = await make_crowd(emulator, MEMBERS, channels=10)
    traffic = Traffic(emulator, llm, search, remind_in=4.0)

    # Warm-up (imports, first connections, caches), then the baselines the run must come back to.
    warm = await run_wave(traffic, people[:len(KINDS)], rooms[:1], 0.5)
    await asyncio.gather(*(traffic.settle(s, 20) for s in warm))
    for s in warm:
        if s.kind == "remind":
            await emulator.wait_until(lambda s=s: traffic.reminder_deliveries(s.token), timeout=15,
                                      message="the warm-up reminder")
    await bot.services.reminders.scheduler.wait_idle()
    tasks_before, objects_before = bot_tasks(), project_objects()
    log.warning("baseline: %d bot tasks %s; %d project objects", sum(tasks_before.values()), dict(tasks_before), sum(objects_before.values()))
    traffic.sent.clear()

    probe = LagProbe().start()
    began = time.monotonic()
    sent = await run_wave(traffic, people, rooms, WINDOW)
    assert time.monotonic() - began < WINDOW + 2
    await asyncio.gather(*(traffic.settle(s, 60) for s in sent))
    reminders = [s for s in sent if s.kind == "remind"]
    await emulator.wait_until(lambda: all(traffic.reminder_deliveries(s.token) for s in reminders),
                              timeout=30, message="every reminder delivered")
    await probe.stop()

    lost = [(s.kind, s.token, s.detail) for s in sent if s.outcome != "answered"]
    assert not lost, lost
    acks = [s.inter.acknowledged_after for s in sent if s.inter is not None]
    assert None not in acks and max(acks) < 3.0, summary([a or 99 for a in acks])
    assert not [r for s in sent if s.inter is not None for r in s.inter.rejected]
    for s in sent:  # the right channel; mentions were found as replies to the asker's own message
        if s.inter is not None:
            assert s.inter.result().original.channel_id == s.channel.id
    doubled = [s.token for s in reminders if len(traffic.reminder_deliveries(s.token)) != 1]
    assert not doubled, f"reminders delivered more than once: {doubled}"
    for s in reminders:
        [delivery] = traffic.reminder_deliveries(s.token)
        assert delivery.channel_id == s.channel.id and f"<@{s.member.id}>" in delivery.content
    lag_p99 = probe.percentile(99)
    log.warning("load: %d prompts; ack %s; loop lag p50 %.1f ms p99 %.1f ms max %.1f ms (bot+emulator+fakes)",
                len(sent), summary(acks), probe.percentile(50) * 1000, lag_p99 * 1000, max(probe.lags) * 1000)
    assert lag_p99 < 0.100, f"event-loop lag p99 {lag_p99 * 1000:.0f} ms"

    # Nothing left behind: the bot's tasks and the project's live objects come back to the baseline.
    await bot.services.reminders.scheduler.wait_idle()
    await emulator.wait_until(lambda: sum(bot_tasks().values()) <= sum(tasks_before.values()), timeout=10,
                              message=f"the bot's tasks back to {tasks_before}, now {bot_tasks()}")
    grown = {k: v - objects_before.get(k, 0) for k, v in project_objects().items() if v > objects_before.get(k, 0)}
    assert not grown, f"project objects left behind after the load: {grown}"
