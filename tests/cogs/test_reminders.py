"""The reminders cog's parts: what it renders, and what `deliver` reports for each way Discord answers.

`deliver` is called here directly (as the scheduler would) on the real bot against the emulator,
for reminders set far ahead so the running scheduler leaves them alone.
"""

from __future__ import annotations

import dataclasses
import re
import time
from datetime import UTC, date, datetime
from datetime import time as clock
from typing import Any

import pytest

from bot import Bot
from cogs.reminders import (
    Reminders,
    _choice_label,
    confirmation,
    delivery_text,
    list_embed,
    owner_only,
    preview,
    stamp,
)
from devtools.discord_emulator import DiscordEmulator
from devtools.discord_emulator import permissions as perms
from services.reminders import DueReminder, Reminder, ReminderPage
from services.reminders.recurrence import Daily, Interval

NOW = 1_790_000_000.0  # 2026-09-21 14:13:20 UTC


def make_reminder(**changes: Any) -> Reminder:
    base = Reminder(id=7, owner_id=1001, guild_id=2002, channel_id=3003, dm=False, text="feed the cat",
                    due_at=NOW + 3600, occurrence_at=NOW + 3600, recurrence=None, tz="Europe/Berlin",
                    state="pending", attempts=0, last_error=None, created_at=NOW - 60, delivered_at=None,
                    deliveries=0)
    return dataclasses.replace(base, **changes)


# --- rendering -----------------------------------------------------------------------------------

def test_stamp_shows_full_date_and_relative_for_every_readers_zone() -> None:
    assert stamp(1_790_000_000.9) == "<t:1790000000:F> (<t:1790000000:R>)"


def test_preview_is_one_clipped_line_with_markdown_shown_as_typed() -> None:
    assert preview("buy\n\n*milk*   and eggs") == r"buy \*milk\* and eggs"
    clipped = preview("x" * 500, 50)
    assert len(clipped) == 50 and clipped.endswith("…")


def test_owner_only_allows_pinging_nobody_else() -> None:
    mentions = owner_only(1001).to_dict()
    assert mentions["users"] == [1001]
    assert mentions["parse"] == []  # no @everyone/@here, no roles, no users from the text
    assert "roles" not in mentions and not mentions.get("replied_user")


def test_confirmation_says_when_how_often_and_how() -> None:
    rule = Daily(1, clock(9, 0), date(2026, 9, 22))
    text = confirmation(make_reminder(recurrence=rule, dm=True))
    assert text.startswith(f"⏰ Reminder #7 set for {stamp(NOW + 3600)}.")
    assert "🔁 Repeats every day at 09:00 (Europe/Berlin)." in text
    assert "by DM" in text and "> feed the cat" in text
    moved = confirmation(make_reminder(dm=True), moved_to_dm=True)
    assert "can't post in this channel" in moved


def test_delivery_in_a_channel_mentions_the_owner_and_says_where_it_came_from() -> None:
    text = delivery_text(make_reminder(), now=NOW + 3600, late_note=None, in_channel=True)
    first, footer = text.split("\n")
    assert first == "⏰ <@1001> feed the cat"
    assert footer == f"-# reminder #7, set <t:{int(NOW - 60)}:R>"


def test_delivery_by_dm_after_a_channel_refusal_says_why_and_is_late() -> None:
    note = "(This reminder is 5 minutes late: the bot was offline or could not deliver it then.)"
    text = delivery_text(make_reminder(), now=NOW, late_note=note, in_channel=False,
                         fallback_reason="404 Unknown Channel (10003)")
    assert text.startswith("⏰ feed the cat\n" + note)
    assert "I could not post it in <#3003> (404 Unknown Channel (10003)), so here it is by DM." in text


def test_recurring_delivery_names_the_next_occurrence_and_how_to_stop() -> None:
    rule = Interval(7200.0, NOW)
    reminder = make_reminder(recurrence=rule, due_at=NOW + 7200, occurrence_at=NOW + 7200)
    assert reminder.next_occurrence(NOW + 7201) == NOW + 14400
    text = delivery_text(reminder, now=NOW + 7201, late_note=None, in_channel=True)
    assert f"repeats every 2 hours, next <t:{int(NOW + 14400)}:R>" in text
    assert "`/reminder-cancel id:7` stops it" in text


def test_longest_reminder_still_fits_one_discord_message() -> None:
    reminder = make_reminder(text="y" * 1000, recurrence=Daily(1, clock(9, 0), date(2026, 9, 22)))
    note = "(This reminder is 23 hours 59 minutes late: the bot was offline or could not deliver it then.)"
    text = delivery_text(reminder, now=NOW, late_note=note, in_channel=False, fallback_reason="x" * 200)
    assert len(text) <= 2000


def test_list_embed_shows_each_reminder_and_stays_within_embed_limits() -> None:
    items = [make_reminder(id=i, text="z" * 1000, recurrence=Daily(1, clock(9, 0), date(2026, 9, 22)),
                           attempts=2, last_error="403 Missing Access (50001) " * 20) for i in range(10)]
    embed = list_embed(ReminderPage(items, page=2, pages=3, total=25)).to_dict()
    assert embed["title"] == "Your reminders (25 pending)"
    assert embed["footer"]["text"].startswith("Page 2/3")
    assert len(embed["description"]) <= 4096
    assert "**#0** · <t:" in embed["description"] and "in <#3003>" in embed["description"]
    assert "⚠️ retrying after 2 failed attempts" in embed["description"]
    empty = list_embed(ReminderPage([], page=1, pages=1, total=0)).to_dict()
    assert "no pending reminders" in empty["description"]


def test_autocomplete_label_fits_discords_100_characters() -> None:
    from zoneinfo import ZoneInfo
    label = _choice_label(make_reminder(text="word " * 50), ZoneInfo("Asia/Tokyo"))
    local = datetime.fromtimestamp(NOW + 3600, UTC).astimezone(ZoneInfo("Asia/Tokyo"))
    assert label.startswith(f"#7 · {local:%a %d %b %H:%M} · word word")
    assert len(label) == 100


# --- deliver against the emulator ----------------------------------------------------------------

@pytest.fixture
async def cog(bot_factory: Any) -> Reminders:
    bot: Bot = await bot_factory(extensions=["cogs.reminders"])
    found = bot.get_cog("Reminders")
    # load_extension imports the module afresh, so this is not the class imported above.
    assert found is not None and type(found).__name__ == Reminders.__name__
    return found  # type: ignore[return-value]


async def stored(cog: Reminders, emu: DiscordEmulator, who: str, channel_name: str, **kw: Any) -> Reminder:
    """A real row, an hour ahead (the scheduler will not touch it during the test)."""
    channel = emu.channel(channel_name) if channel_name else None
    return await cog.service.create(owner_id=emu.member(who).id, guild_id=emu.guild.id,
                                    channel_id=channel.id if channel else None, when="in 1 hour",
                                    text=kw.pop("text", "stretch"), **kw)


async def test_deliver_posts_in_the_channel(cog: Reminders, emulator: DiscordEmulator) -> None:
    reminder = await stored(cog, emulator, "carol", "random")
    result = await cog.deliver(DueReminder(reminder, late_by=0.2, attempt=1))
    assert result.delivered and result.via == "channel"
    [message] = emulator.bot_messages(emulator.channel("random"))
    assert message.content.startswith(f"⏰ <@{emulator.member('carol').id}> stretch")
    sent = message.versions[-1].allowed_mentions
    assert sent is not None and sent["parse"] == [] and [int(u) for u in sent["users"]] == [emulator.member("carol").id]


async def test_deliver_falls_back_to_dm_when_the_bot_lost_access(cog: Reminders, emulator: DiscordEmulator) -> None:
    reminder = await stored(cog, emulator, "carol", "random")
    await emulator.revoke_access(emulator.channel("random"))
    result = await cog.deliver(DueReminder(reminder, late_by=7200, attempt=1))
    assert result.delivered and result.via == "dm"
    [message] = emulator.bot_messages(emulator.dm_channel(emulator.member("carol")))
    assert "403 Missing Access (50001)" in message.content
    assert re.search(r"This reminder is 2 hours late", message.content)


async def test_deliver_reports_both_refusals_and_keeps_retrying(cog: Reminders, emulator: DiscordEmulator) -> None:
    reminder = await stored(cog, emulator, "dave", "random")
    await emulator.revoke_access(emulator.channel("random"))
    emulator.member("dave").user.dms_open = False
    result = await cog.deliver(DueReminder(reminder, late_by=0, attempt=1))
    assert not result.delivered and not result.permanent
    assert result.error == ("channel: 403 Missing Access (50001); "
                            "DM: 403 Cannot send messages to this user (50007)")


async def test_deliver_by_dm_with_dms_closed_is_retried(cog: Reminders, emulator: DiscordEmulator) -> None:
    reminder = await stored(cog, emulator, "dave", "random", dm=True)
    emulator.member("dave").user.dms_open = False
    result = await cog.deliver(DueReminder(reminder, late_by=0, attempt=1))
    assert not result.delivered and not result.permanent
    assert result.error == "DM: 403 Cannot send messages to this user (50007)"
    assert not emulator.bot_messages(emulator.channel("random")), "a DM reminder never goes to the channel"


async def test_deliver_to_an_owner_who_no_longer_exists_is_permanent(cog: Reminders, emulator: DiscordEmulator) -> None:
    reminder = await stored(cog, emulator, "carol", "random")
    await emulator.delete_channel(emulator.channel("random"))
    gone = dataclasses.replace(reminder, owner_id=424242, guild_id=None)  # a deleted account, set outside a server
    result = await cog.deliver(DueReminder(gone, late_by=0, attempt=1))
    assert not result.delivered and result.permanent
    assert "10003" in (result.error or "") and "10013" in (result.error or "")


async def test_an_owner_who_left_the_server_gets_nothing_and_their_reminders_there_are_cancelled(
        cog: Reminders, emulator: DiscordEmulator) -> None:
    """Without the members intent the bot hears of a leave only here, at the next delivery."""
    first = await stored(cog, emulator, "dave", "random")
    second = await stored(cog, emulator, "dave", "general", dm=True)
    await emulator.remove_member(emulator.member("dave"))
    result = await cog.deliver(DueReminder(first, late_by=0, attempt=1))
    assert result.withdrawn and not result.delivered and result.error == "its owner is no longer a member of the server"
    assert not emulator.bot_messages(emulator.channel("random"))
    assert (await cog.service.store.get(second.id)).state == "cancelled"


async def test_an_owner_who_may_no_longer_post_there_gets_it_by_dm(cog: Reminders, emulator: DiscordEmulator) -> None:
    reminder = await stored(cog, emulator, "carol", "random")
    await emulator.set_permissions(emulator.channel("random"), emulator.member("carol"), deny=perms.SEND_MESSAGES)
    result = await cog.deliver(DueReminder(reminder, late_by=0, attempt=1))
    assert result.delivered and result.via == "dm"
    assert not emulator.bot_messages(emulator.channel("random"))
    [message] = emulator.bot_messages(emulator.dm_channel(emulator.member("carol")))
    assert "(you can no longer post there)" in message.content


async def test_the_scheduler_runs_while_the_cog_is_loaded(bot_factory: Any) -> None:
    bot: Bot = await bot_factory(extensions=["cogs.reminders"])
    scheduler = bot.services.reminders.scheduler
    assert scheduler is not None and scheduler.running
    started = time.monotonic()
    await bot.unload_extension("cogs.reminders")
    assert not scheduler.running and bot.services.reminders.scheduler is None
    assert time.monotonic() - started < 5
