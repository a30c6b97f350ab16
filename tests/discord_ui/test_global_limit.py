"""Several processes share one token's global REST limit: each paces its requests to its shards' share,
interaction answers exempt."""

from __future__ import annotations

import time
from functools import partial
from typing import Any

import pytest

from devtools.discord_emulator import DiscordEmulator
from devtools.discord_emulator.world import default_world
from discord_ui.global_limit import TokenBucket, share_of
from services.reminders.models import NewReminder
from services.shards import Shards


class Clock:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


async def test_the_bucket_allows_its_burst_then_its_rate() -> None:
    clock = Clock()
    bucket = TokenBucket(5, burst=5, clock=clock, sleep=clock.sleep)
    for _ in range(5):
        await bucket.acquire()
    assert clock.now == 0
    for _ in range(10):
        await bucket.acquire()
    assert clock.now == pytest.approx(2.0)  # ten more at 5 per second
    clock.now += 10  # idle: saves up no more than the burst
    for _ in range(6):
        await bucket.acquire()
    assert clock.now == pytest.approx(12.2)


def test_each_process_takes_its_shards_share() -> None:
    assert share_of(50, Shards.of(2, [1])) == 25
    assert share_of(50, Shards.of(4, [0, 3])) == 25
    assert share_of(120, Shards.of(4, [2])) == 30
    assert share_of(50, Shards.every(4)) is None  # one process: discord.py keeps it within the limit


@pytest.mark.parametrize("emulator", [{"world": partial(default_world, shards=2)}], indirect=True)
async def test_a_process_paces_its_deliveries_and_never_its_interaction_answers(
        postgres_dsn: str, bot_factory: Any, emulator: DiscordEmulator) -> None:
    bot = await bot_factory(database_url=postgres_dsn, shard_count=2, shard_ids=[0], discord_global_rate_limit=10,
                            extensions=["cogs.reminders"])
    assert bot.rest_pace is not None and bot.rest_pace.rate == 5
    alice, general = emulator.member("alice"), emulator.channel("general")
    due = time.time() + 1
    for i in range(20):
        await bot.services.reminders.store.add(NewReminder(alice.id, emulator.guild.id, general.id, False, f"r{i}",
                                                           due, None, "UTC"))
    bot.services.reminders.scheduler.notify(due)
    posts = lambda: emulator.records.requests_to("POST", "/channels/{channel_id}/messages")  # noqa: E731
    await emulator.wait_until(lambda: len(posts()) >= 8, timeout=10, message="deliveries under way")
    inter = await emulator.invoke(alice, general, "reminders")
    await inter.wait_done(timeout=5)
    assert inter.acknowledged_after < 1, "an interaction answer must not wait behind the paced deliveries"
    await emulator.wait_until(lambda: len(posts()) >= 20, timeout=15, message="every reminder delivered")
    times = [r.at for r in posts()]
    assert times[-1] - times[0] >= 19 / 5 * 0.9, "evenly spaced at 5 per second"
    for start in times:
        assert sum(1 for t in times if start <= t < start + 1) <= 5 + 1
