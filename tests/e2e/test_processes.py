"""Two real bot processes on shards 0 and 1 of the local Discord, sharing one PostgreSQL: each answers
its own servers (DMs: shard 0), reminders are delivered exactly once by the process that owns their
shard (also when that process is killed mid-delivery, or restarted one after the other), and the
once-per-bot work moves to the other process when the leader dies."""

from __future__ import annotations

import asyncio
import re
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from functools import partial
from typing import Any

import asyncpg
import pytest

from devtools.discord_emulator import DiscordEmulator
from devtools.discord_emulator.process import BotProcess
from devtools.discord_emulator.world import Channel, Guild, default_world
from services.reminders.models import NewReminder
from services.storage.backend import PostgresBackend
from services.storage.postgres.database import PgDatabase

TWO_SHARDS = {"world": partial(default_world, shards=2)}
pytestmark = [pytest.mark.parametrize("emulator", [TWO_SHARDS], indirect=True), pytest.mark.slow]
REMINDER = re.compile(r"reminder #(\d+),")

Start = Callable[..., Awaitable[BotProcess]]


@pytest.fixture
async def start(postgres_dsn: str, bot_process: Any, emulator: DiscordEmulator) -> Start:
    """`await start(1)`: a bot process running shard 1 of 2 on the test's PostgreSQL, ready."""

    async def run(shard: int, **settings: Any) -> BotProcess:
        # The local Discord has no global limit to respect: pacing is tested in tests/discord_ui.
        settings.setdefault("discord_global_rate_limit", 5_000)
        process = await bot_process(database_url=postgres_dsn, shard_count=2, shard_ids=shard,
                                    bot_owner_ids=emulator.member("alice").id, **settings)
        await process.wait_ready(shards=[shard])
        return process

    return run


@pytest.fixture
async def pg(postgres_dsn: str) -> AsyncIterator[PostgresBackend]:
    """The test's own view of the shared database (another process, as far as the bots know)."""
    backend = PostgresBackend(await PgDatabase.open(postgres_dsn, max_size=4))
    yield backend
    await backend.close()


def general(emulator: DiscordEmulator, guild: Guild) -> Channel:
    return emulator.channel("general", guild=guild)


def delivered_ids(emulator: DiscordEmulator) -> Counter[int]:
    """How many messages the bot posted for each reminder id, in any channel or DM."""
    return Counter(int(m.group(1)) for record in emulator.records.messages.values()
                   if record.author_id == emulator.bot_user.id and not record.deleted
                   and (m := REMINDER.search(record.content)))


async def add_reminders(pg: PostgresBackend, emulator: DiscordEmulator, count: int, *, first_due: float,
                        spread: float, guilds: list[Guild | None]) -> dict[int, Guild | None]:
    """`count` reminders due from `first_due` over `spread` seconds, round-robin over the guilds'
    #general (None: a DM reminder); added through the store, so the bots hear of them."""
    store = pg.reminders()
    alice = emulator.member("alice")
    where: dict[int, Guild | None] = {}
    for i in range(count):
        guild = guilds[i % len(guilds)]
        channel = general(emulator, guild).id if guild else None
        added = await store.add(NewReminder(alice.id, guild.id if guild else None, channel, guild is None,
                                            f"number {i}", first_due + spread * i / count, None, "UTC"))
        where[added.id] = guild
    return where


async def rows(dsn: str) -> dict[int, asyncpg.Record]:
    conn = await asyncpg.connect(dsn)
    try:
        return {r["id"]: r for r in await conn.fetch("SELECT id, state, deliveries, claimed_by FROM reminders")}
    finally:
        await conn.close()


def pid_of(claim: str | None) -> int:
    assert claim is not None
    return int(claim.split(":")[1])  # host:pid:random


async def test_each_process_answers_its_own_servers_and_dms_go_to_shard_0(start: Start,
                                                                          emulator: DiscordEmulator) -> None:
    first = await start(0)
    second = await start(1)
    await second.wait_for_output("Slash commands are synced by the process running shard 0")
    assert len(emulator.records.command_syncs) == 1, "commands must be synced by one process only"
    alice = emulator.member("alice")
    for guild, process, shard in ((emulator.guilds[0], first, 0), (emulator.guilds[1], second, 1)):
        inter = await emulator.invoke(emulator.member("alice", guild=guild), general(emulator, guild), "health")
        embed = (await inter.wait_done(timeout=15)).embeds[0]
        answered_by = next(f["value"] for f in embed["fields"] if f["name"] == "Process")
        assert f":{process.process.pid} (shard {shard} of 2)" in answered_by, answered_by
    inter = await emulator.invoke(alice, emulator.dm_channel(alice), "health")
    embed = (await inter.wait_done(timeout=15)).embeds[0]
    assert f":{first.process.pid} (shard 0 of 2)" in next(f["value"] for f in embed["fields"] if f["name"] == "Process")
    # A mention in the second server is answered once, by the second process alone.
    mention = await emulator.send_message(emulator.member("carol", guild=emulator.guilds[1]),
                                          general(emulator, emulator.guilds[1]), "are you there?", mentions_bot=True)
    await emulator.wait_for_message(general(emulator, emulator.guilds[1]), lambda m: True, timeout=15)
    await asyncio.sleep(0.5)
    answers = [m for m in emulator.bot_messages(general(emulator, emulator.guilds[1]))
               if m.reference and int(m.reference["message_id"]) == mention.id]
    assert len(answers) == 1


async def test_a_thousand_reminders_due_in_one_second_are_each_delivered_once(
        start: Start, emulator: DiscordEmulator, pg: PostgresBackend, postgres_dsn: str) -> None:
    first, second = await start(0), await start(1)
    g0, g1 = emulator.guilds
    where = await add_reminders(pg, emulator, 1_000, first_due=time.time() + 3, spread=1.0, guilds=[g0, g1, None])
    await emulator.wait_until(lambda: len(delivered_ids(emulator)) == 1_000, timeout=60,
                              message="1,000 reminders delivered")
    await asyncio.sleep(0.5)  # a duplicate would show up now
    assert delivered_ids(emulator) == Counter(dict.fromkeys(where, 1))
    found = await rows(postgres_dsn)
    assert {(r["state"], r["deliveries"]) for r in found.values()} == {("delivered", 1)}
    owner = {None: first, g0: first, g1: second}
    wrong = [i for i, guild in where.items() if pid_of(found[i]["claimed_by"]) != owner[guild].process.pid]
    assert not wrong, f"{len(wrong)} reminders delivered by the process that does not own their shard"


async def test_a_process_killed_mid_delivery_is_taken_over_exactly_once(
        start: Start, emulator: DiscordEmulator, pg: PostgresBackend, postgres_dsn: str) -> None:
    first = await start(0, reminder_claim_lease=2)
    second = await start(1, reminder_claim_lease=2)
    g1 = emulator.guilds[1]
    # Discord accepts the second process's messages but its answers never arrive: it dies in the window
    # between Discord's answer and its own commit, the worst moment for exactly-once.
    hold = emulator.hold_responses(f"POST /channels/{general(emulator, g1).id}/messages", after=1)
    where = await add_reminders(pg, emulator, 300, first_due=time.time() + 3, spread=0.01, guilds=[g1])  # one batch
    await emulator.wait_until(lambda: hold.held >= 5, timeout=20, message="deliveries in flight")
    second.kill()
    assert await second.wait() == -9
    unanswered = hold.held  # created by Discord, never confirmed to the dead process, so never committed
    created = sum(delivered_ids(emulator).values())
    assert 0 < created < 300
    hold.release()
    await first.wait_for_output(r"Adopted shard 1", timeout=15)
    await emulator.wait_until(lambda: len(delivered_ids(emulator)) == 300, timeout=60,
                              message="every reminder of the killed process delivered by the other")
    await asyncio.sleep(0.5)
    assert delivered_ids(emulator) == Counter(dict.fromkeys(where, 1)), "each exactly once"
    assert len(emulator.records.nonce_repeats) >= unanswered, "the retaken sends were recognised by their nonce"
    found = await rows(postgres_dsn)
    assert {(r["state"], r["deliveries"]) for r in found.values()} == {("delivered", 1)}
    by = Counter(pid_of(r["claimed_by"]) for r in found.values())
    assert set(by) <= {first.process.pid, second.process.pid}
    assert by[second.process.pid] <= created - unanswered, "only what the dead process heard back was its"


async def test_leadership_moves_when_the_leader_is_killed(start: Start, emulator: DiscordEmulator) -> None:
    first = await start(0)
    second = await start(1)
    leader, other = (first, second) if "now leads the once-per-bot work" in first.output else (second, first)
    await leader.wait_for_output("now leads the once-per-bot work")
    assert "now leads" not in other.output
    killed_at = time.monotonic()
    leader.kill()
    await other.wait_for_output("now leads the once-per-bot work", timeout=15)
    assert time.monotonic() - killed_at < 10, "leadership must move within seconds"
    guild = emulator.guilds[0] if other is first else emulator.guilds[1]
    inter = await emulator.invoke(emulator.member("alice", guild=guild), general(emulator, guild), "health",
                                  refresh=True)
    embed = (await inter.wait_done(timeout=20)).embeds[0]
    assert "leader: this one" in next(f["value"] for f in embed["fields"] if f["name"] == "Process")


async def test_a_rolling_restart_loses_nothing(start: Start, emulator: DiscordEmulator, pg: PostgresBackend,
                                               postgres_dsn: str) -> None:
    processes = {0: await start(0), 1: await start(1)}
    g0, g1 = emulator.guilds
    where = await add_reminders(pg, emulator, 200, first_due=time.time() + 2, spread=12.0, guilds=[g0, g1, None])
    for shard in (1, 0):  # one after the other, as an operator upgrades
        old = processes[shard]
        old.terminate()
        assert await old.wait(timeout=20) == 0
        processes[shard] = await start(shard)
    await emulator.wait_until(lambda: len(delivered_ids(emulator)) == 200, timeout=60,
                              message="every reminder delivered across the restarts")
    await asyncio.sleep(0.5)
    assert delivered_ids(emulator) == Counter(dict.fromkeys(where, 1))
    assert {(r["state"], r["deliveries"]) for r in (await rows(postgres_dsn)).values()} == {("delivered", 1)}
