"""/remind, /reminders, /reminder-cancel and /timezone end to end: the real bot and cog on the emulator.

Reminders that must fire are set a couple of seconds ahead on the real clock; every wait is for an
event (a message, a row's state) with a timeout, never a fixed sleep.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import sqlite3
import time
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bot import Bot
from devtools.discord_emulator import DiscordEmulator
from devtools.discord_emulator import permissions as perms
from services.reminders import Reminder
from services.reminders.models import NewReminder
from services.storage import Database
from services.storage.sqlite.reminders import SqliteReminderStore

STAMP = re.compile(r"<t:(\d+):F> \(<t:\1:R>\)")


@pytest.fixture
async def remind_bot(bot_factory: Any) -> Bot:
    return await bot_factory(extensions=["cogs.reminders"])


def reminder_id(text: str) -> int:
    match = re.search(r"Reminder #(\d+) set", text)
    assert match, f"no reminder id in {text!r}"
    return int(match.group(1))


def due_epoch(text: str) -> int:
    match = STAMP.search(text)
    assert match, f"no <t:…:F> (<t:…:R>) timestamp in {text!r}"
    return int(match.group(1))


async def remind(emu: DiscordEmulator, who: str, channel: str, when: str, what: str, **extra: Any) -> Any:
    inter = await emu.invoke(emu.member(who), emu.channel(channel), "remind", when=when, what=what, **extra)
    result = await inter.wait_done(timeout=5)
    assert inter.acknowledged_after < 3
    return result


async def settled(bot: Bot, rid: int) -> Reminder:
    """The reminder's row once the scheduler has recorded what it just did and sleeps again."""
    scheduler = bot.services.reminders.scheduler
    assert scheduler is not None, "the cog did not start the scheduler"
    await asyncio.wait_for(scheduler.wait_idle(), 5)
    row = await bot.services.reminders.store.get(rid)
    assert row is not None
    return row


async def test_set_list_and_cancel(remind_bot: Bot, emulator: DiscordEmulator) -> None:
    before = time.time()
    result = await remind(emulator, "alice", "general", "in 2 hours", "water the plants")
    assert not result.ephemeral, "a channel reminder's confirmation is for everyone in the channel"
    rid = reminder_id(result.text)
    assert abs(due_epoch(result.text) - (before + 7200)) <= 3
    assert "water the plants" in result.text

    inter = await emulator.invoke(emulator.member("alice"), emulator.channel("general"), "reminders")
    listing = await inter.wait_done(timeout=5)
    assert listing.ephemeral
    [embed] = listing.embeds
    assert f"**#{rid}**" in embed["description"] and "water the plants" in embed["description"]
    assert STAMP.search(embed["description"])
    assert "(1 pending)" in embed["title"]

    # carol sees none of alice's, and cannot cancel them
    inter = await emulator.invoke(emulator.member("carol"), emulator.channel("general"), "reminders")
    assert "no pending reminders" in (await inter.wait_done(timeout=5)).embeds[0]["description"]
    inter = await emulator.invoke(emulator.member("carol"), emulator.channel("general"), "reminder-cancel", id=rid)
    refused = await inter.wait_done(timeout=5)
    assert refused.ephemeral and f"no reminder #{rid}" in refused.text

    inter = await emulator.invoke(emulator.member("alice"), emulator.channel("general"), "reminder-cancel", id=rid)
    done = await inter.wait_done(timeout=5)
    assert done.ephemeral and f"Cancelled reminder #{rid}" in done.text
    assert (await remind_bot.services.reminders.store.get(rid)).state == "cancelled"

    inter = await emulator.invoke(emulator.member("alice"), emulator.channel("general"), "reminder-cancel", id=rid)
    assert "no longer pending (it was cancelled)" in (await inter.wait_done(timeout=5)).text


async def test_moderator_may_cancel_anyones_reminder_in_the_guild(remind_bot: Bot, emulator: DiscordEmulator) -> None:
    rid = reminder_id((await remind(emulator, "carol", "general", "tomorrow 9am", "stand-up")).text)
    inter = await emulator.invoke(emulator.member("dave"), emulator.channel("general"), "reminder-cancel", id=rid)
    assert "no reminder" in (await inter.wait_done(timeout=5)).text
    inter = await emulator.invoke(emulator.member("bob"), emulator.channel("general"), "reminder-cancel", id=rid)
    result = await inter.wait_done(timeout=5)
    assert f"Cancelled <@{emulator.member('carol').id}>'s reminder #{rid}" in result.text
    assert not result.original.versions[-1].mentions, "the cancel notice pings nobody"


async def test_delivery_pings_only_the_owner(remind_bot: Bot, emulator: DiscordEmulator) -> None:
    moderator, bob = emulator.role("Moderator"), emulator.member("bob")
    text = f"@everyone @here stand-up with <@&{moderator.id}> and <@{bob.id}>"
    result = await remind(emulator, "alice", "general", "in 2s", text)
    rid = reminder_id(result.text)
    delivered = await emulator.wait_for_message(emulator.channel("general"), lambda m: "stand-up" in m.content
                                                and "reminder #" in m.content, timeout=10)
    alice = emulator.member("alice")
    assert delivered.content.startswith(f"⏰ <@{alice.id}> @everyone")
    assert f"reminder #{rid}" in delivered.content
    assert "late" not in delivered.content
    version = delivered.versions[-1]
    assert version.mentions == [alice.id]
    assert version.mention_roles == [] and version.mention_everyone is False
    row = await settled(remind_bot, rid)
    assert (row.state, row.deliveries) == ("delivered", 1)


async def test_recurring_reminder_repeats_until_cancelled(bot_factory: Any, emulator: DiscordEmulator) -> None:
    bot = await bot_factory(extensions=["cogs.reminders"], reminder_min_interval=1)
    result = await remind(emulator, "carol", "general", "every 2 seconds", "blink")
    assert "🔁 Repeats every 2 seconds" in result.text
    rid = reminder_id(result.text)
    general = emulator.channel("general")
    first = await emulator.wait_for_message(general, lambda m: m.content.startswith(f"⏰ <@{emulator.member('carol').id}> blink"),
                                            timeout=10)
    assert "repeats every 2 seconds, next <t:" in first.content and f"`/reminder-cancel id:{rid}` stops it" in first.content
    second = await emulator.wait_for_message(general, lambda m: m.content.startswith("⏰") and "blink" in m.content,
                                             after=first, timeout=10)
    assert second.created_at - first.created_at > 1, "the second came on the next occurrence, not at once"
    inter = await emulator.invoke(emulator.member("carol"), general, "reminder-cancel", id=rid)
    assert "Cancelled" in (await inter.wait_done(timeout=5)).text
    row = await settled(bot, rid)
    assert row.state == "cancelled" and row.deliveries >= 2


async def test_dm_reminder_goes_by_dm_and_its_confirmation_is_private(remind_bot: Bot, emulator: DiscordEmulator) -> None:
    result = await remind(emulator, "carol", "general", "in 2s", "call mum", dm=True)
    assert result.ephemeral and "by DM" in result.text
    delivered = await emulator.wait_for_message(emulator.dm_channel(emulator.member("carol")),
                                                lambda m: "call mum" in m.content, timeout=10)
    assert delivered.content.startswith("⏰ call mum")
    assert not [m for m in emulator.bot_messages(emulator.channel("general")) if "call mum" in m.content]


async def test_reminder_set_in_a_dm_arrives_there(remind_bot: Bot, emulator: DiscordEmulator) -> None:
    carol = emulator.member("carol")
    dm = emulator.dm_channel(carol)
    inter = await emulator.invoke(carol, dm, "remind", when="in 2s", what="water")
    rid = reminder_id((await inter.wait_done(timeout=5)).text)
    delivered = await emulator.wait_for_message(dm, lambda m: m.content.startswith("⏰ water"), timeout=10)
    assert f"reminder #{rid}" in delivered.content


async def test_channel_deleted_falls_back_to_dm(remind_bot: Bot, emulator: DiscordEmulator) -> None:
    temp = await emulator.add_channel("temp")
    inter = await emulator.invoke(emulator.member("alice"), temp, "remind", when="in 2s", what="take the cake out")
    rid = reminder_id((await inter.wait_done(timeout=5)).text)
    await emulator.delete_channel(temp)
    delivered = await emulator.wait_for_message(emulator.dm_channel(emulator.member("alice")),
                                                lambda m: "take the cake out" in m.content, timeout=10)
    assert f"could not post it in <#{temp.id}>" in delivered.content and "10003" in delivered.content
    row = await settled(remind_bot, rid)
    assert (row.state, row.deliveries) == ("delivered", 1)


async def test_a_channel_the_bot_cannot_post_in_gets_a_dm_reminder(remind_bot: Bot, emulator: DiscordEmulator) -> None:
    quiet = await emulator.add_channel("quiet")
    await emulator.set_permissions(quiet, emulator.bot_member(), deny=perms.SEND_MESSAGES)
    inter = await emulator.invoke(emulator.member("carol"), quiet, "remind", when="in 2s", what="stretch")
    result = await inter.wait_done(timeout=5)
    assert result.ephemeral and "can't post in this channel" in result.text
    delivered = await emulator.wait_for_message(emulator.dm_channel(emulator.member("carol")),
                                                lambda m: "stretch" in m.content, timeout=10)
    assert "could not post" not in delivered.content, "it was a DM reminder from the start"


async def test_channel_and_dm_both_refused_marks_it_failed_with_the_reason(bot_factory: Any,
                                                                             emulator: DiscordEmulator) -> None:
    bot = await bot_factory(extensions=["cogs.reminders"], reminder_max_attempts=1)
    temp = await emulator.add_channel("temp")
    inter = await emulator.invoke(emulator.member("dave"), temp, "remind", when="in 2s", what="nobody hears this")
    rid = reminder_id((await inter.wait_done(timeout=5)).text)
    await emulator.revoke_access(temp)
    emulator.member("dave").user.dms_open = False
    dm = emulator.dm_channel(emulator.member("dave"))
    await emulator.wait_until(lambda: any(r.status == 403 and str(dm.id) in r.path for r in emulator.records.requests),
                              timeout=10, message="the DM attempt refused")
    row = await settled(bot, rid)
    assert row.state == "failed" and row.deliveries == 0
    assert "50001" in row.last_error and "50007" in row.last_error, row.last_error


async def test_bad_input_is_answered_clearly(bot_factory: Any, emulator: DiscordEmulator) -> None:
    await bot_factory(extensions=["cogs.reminders"], reminder_max_per_user=1, reminder_max_horizon_days=30)
    cases = [
        ("whenever you like", "tea", "Examples that work"),
        ("2020-01-01 10:00", "tea", "already past"),
        ("in 40 days", "tea", "at most 30 days ahead"),
        ("every minute", "tea", "shortest repeat allowed is every 5 minutes"),
        ("in 1 hour", "x" * 1001, "the limit is 1,000"),
    ]
    for when, what, expected in cases:
        result = await remind(emulator, "carol", "general", when, what)
        assert result.ephemeral and expected in result.text, (when, result.text)
    await remind(emulator, "carol", "general", "in 1 hour", "the one allowed")
    result = await remind(emulator, "carol", "general", "in 2 hours", "one too many")
    assert result.ephemeral and "most allowed (1)" in result.text


async def test_timezone_autocomplete_set_and_used(remind_bot: Bot, emulator: DiscordEmulator) -> None:
    carol, general = emulator.member("carol"), emulator.channel("general")
    choices = await emulator.autocomplete(carol, general, "timezone", zone="berl")
    assert "Europe/Berlin" in [c["value"] for c in choices]
    assert len(await emulator.autocomplete(carol, general, "timezone", zone="")) == 25

    inter = await emulator.invoke(carol, general, "timezone", zone="Mars/Olympus")
    assert "not a time zone I know" in (await inter.wait_done(timeout=5)).text
    inter = await emulator.invoke(carol, general, "timezone", zone="asia/tokyo")
    assert "now Asia/Tokyo" in (await inter.wait_done(timeout=5)).text
    inter = await emulator.invoke(carol, general, "timezone")
    assert "Your time zone is Asia/Tokyo" in (await inter.wait_done(timeout=5)).text

    result = await remind(emulator, "carol", general.name, "tomorrow 9am", "ramen")
    tokyo = ZoneInfo("Asia/Tokyo")
    due = datetime.fromtimestamp(due_epoch(result.text), tokyo)
    assert (due.hour, due.minute) == (9, 0)
    assert due.date() == (datetime.now(tokyo) + timedelta(days=1)).date()


async def test_list_pages_with_buttons_only_for_the_owner(remind_bot: Bot, emulator: DiscordEmulator) -> None:
    alice, general = emulator.member("alice"), emulator.channel("general")
    for n in range(12):
        await remind_bot.services.reminders.create(owner_id=alice.id, guild_id=emulator.guild.id,
                                                   channel_id=general.id, when=f"in {n + 1} hours", text=f"item {n}")
    inter = await emulator.invoke(alice, general, "reminders")
    result = await inter.wait_done(timeout=5)
    assert "Page 1/2" in result.embeds[0]["footer"]["text"] and "(12 pending)" in result.embeds[0]["title"]
    assert "item 9" in result.embeds[0]["description"] and "item 10" not in result.embeds[0]["description"]

    next_id = _button(result.original, "Next")
    click = await emulator.click(alice, result.original, next_id)
    await click.wait_done(timeout=5)
    await emulator.wait_until(lambda: "Page 2/2" in result.original.embeds[0]["footer"]["text"], timeout=5,
                              message="the pager showed page 2")
    assert "item 11" in result.original.embeds[0]["description"]

    other = await emulator.click(emulator.member("bob"), result.original, _button(result.original, "Previous"))
    assert "Only the person who asked" in (await other.wait_done(timeout=5)).text
    assert "Page 2/2" in result.original.embeds[0]["footer"]["text"]

    inter = await emulator.invoke(alice, general, "reminders", page=2)
    assert "Page 2/2" in (await inter.wait_done(timeout=5)).embeds[0]["footer"]["text"]

    choices = await emulator.autocomplete(alice, general, "reminder-cancel", id="item 11")
    assert [c["name"].endswith("item 11") for c in choices] == [True]


def _button(message: Any, label: str) -> str:
    return next(c["custom_id"] for row in message.components for c in row["components"] if label in c.get("label", ""))


async def test_reminders_finished_long_ago_are_pruned_when_the_bot_starts(
        bot_factory: Any, emulator: DiscordEmulator, make_settings: Any) -> None:
    settings = make_settings(reminder_history_days=3)
    db = await Database.open(settings.database_path)
    old_clock = SqliteReminderStore(db, clock=lambda: time.time() - 4 * 86_400)
    new_clock = SqliteReminderStore(db)
    values = dict(owner_id=1, guild_id=None, channel_id=None, dm=True, text="x", recurrence=None, tz="UTC")
    old = await old_clock.add(NewReminder(due_at=time.time() + 3_600, **values))  # type: ignore[arg-type]
    recent = await new_clock.add(NewReminder(due_at=time.time() + 3_600, **values))  # type: ignore[arg-type]
    assert await old_clock.cancel(old.id) and await new_clock.cancel(recent.id)
    await db.close()

    bot = await bot_factory(extensions=["cogs.reminders"], settings=settings)
    with contextlib.closing(sqlite3.connect(settings.database_path)) as reader:  # a second reader, as WAL allows
        def stored(reminder_id: int) -> bool:
            return reader.execute("SELECT 1 FROM reminders WHERE id = ?", (reminder_id,)).fetchone() is not None
        await emulator.wait_until(lambda: not stored(old.id), timeout=5, message="the old reminder pruned")
    assert (await bot.services.reminders.store.get(recent.id)).state == "cancelled"
