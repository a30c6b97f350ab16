"""Memory people can erase, reminders that leave with their owner, and a bot that serves only its own
servers, end to end on the local Discord with the real bot."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from typing import Any

from bot import Bot
from devtools.discord_emulator import DiscordEmulator
from devtools.discord_emulator.world import add_standard_guild
from devtools.fakes.llm_server import FakeLLMServer, Reply


async def memory(bot: Bot, channel: Any) -> list[str]:
    return [t.content for t in await bot.services.conversations.recent(channel.id, 10_000)]


async def eventually(check: Callable[[], Awaitable[bool]], what: str, timeout: float = 5.0) -> None:
    """Until a condition on the bot's side (a database row) holds, checked every 20 ms."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await check():
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
        await asyncio.sleep(0.02)


async def memory_is(bot: Bot, channel: Any, turns: int) -> None:
    async def check() -> bool:
        return await bot.services.conversations.count(channel.id) == turns
    await eventually(check, f"{turns} turns in memory")


def reminder_id(text: str) -> int:
    match = re.search(r"Reminder #(\d+) set", text)
    assert match, text
    return int(match.group(1))


async def test_deleting_a_message_erases_what_was_kept_of_it(bot_factory: Any, emulator: DiscordEmulator,
                                                           llm: FakeLLMServer) -> None:
    bot = await bot_factory(extensions=["cogs.chat", "cogs.privacy"], ollama_host=llm.url, chat_user_cooldown=0)
    llm.default = Reply(text="Noted.")
    carol, bob, general = emulator.member("carol"), emulator.member("bob"), emulator.channel("general")
    said = []
    for text in ("my address is 1 Elm Street", "my phone is 555-0100", "the weather is nice", "and my PIN is 1234"):
        said.append(await emulator.send_message(carol, general, text, mentions_bot=True))
        await emulator.wait_for_message(general, lambda m: m.content == "Noted.", timeout=10)
    chat = await (await emulator.invoke(carol, general, "chat", prompt="my birthday is in May")).wait_done(
        until=lambda r: r.text == "Noted.", timeout=10)
    await memory_is(bot, general, 10)

    await emulator.delete_message(said[0])  # carol deletes her own message
    await memory_is(bot, general, 8)
    assert not [t for t in await memory(bot, general) if "Elm" in t]

    answer = next(m for m in emulator.bot_messages(general) if m.reference and
                  int(m.reference["message_id"]) == said[1].id)
    await emulator.delete_message(answer, by=bob)  # a moderator deletes the bot's answer: the exchange goes
    await memory_is(bot, general, 6)
    assert not [t for t in await memory(bot, general) if "555" in t]

    await emulator.bulk_delete([said[2], said[3]], by=bob)  # a purge
    await memory_is(bot, general, 2)
    await emulator.delete_message(chat.original, by=bob)  # the /chat answer, which shows the prompt
    await memory_is(bot, general, 0)


async def test_forget_me_erases_turns_everywhere_and_reminders_on_confirmation(
        bot_factory: Any, emulator: DiscordEmulator, llm: FakeLLMServer) -> None:
    bot = await bot_factory(extensions=["cogs.chat", "cogs.reminders", "cogs.privacy"], ollama_host=llm.url,
                            chat_user_cooldown=0)
    llm.default = Reply(text="Noted.")
    carol, dave = emulator.member("carol"), emulator.member("dave")
    general, random_channel, dm = emulator.channel("general"), emulator.channel("random"), emulator.dm_channel(carol)
    await emulator.send_message(carol, general, "carol's secret", mentions_bot=True)
    await emulator.wait_for_message(general, lambda m: m.content == "Noted.", timeout=10)
    await emulator.send_message(dave, general, "dave's words", mentions_bot=True)
    await emulator.wait_for_message(general, lambda m: m.content == "Noted.", timeout=10)
    await (await emulator.invoke(carol, random_channel, "chat", prompt="carol elsewhere")).wait_done(
        until=lambda r: r.text == "Noted.", timeout=10)
    await emulator.send_message(carol, dm, "carol in private")
    await emulator.wait_for_message(dm, lambda m: m.content == "Noted.", timeout=10)
    await (await emulator.invoke(carol, general, "remind", when="in 2 hours", what="dentist")).wait_done()
    await (await emulator.invoke(carol, general, "timezone", zone="Europe/Paris")).wait_done()

    inter = await emulator.invoke(carol, general, "forget-me")
    result = await inter.wait_done(timeout=10)
    assert result.ephemeral and "I forgot 6 conversation turns of yours" in result.text, result.text
    assert "You also have 1 reminder" in result.text
    assert await memory(bot, general) == ["dave's words", "Noted."]
    assert await memory(bot, random_channel) == [] and await memory(bot, dm) == []
    message = result.messages[-1]
    refused = await (await emulator.click(dave, message, "forget-reminders")).wait_done(timeout=5)
    assert refused.ephemeral and "Only the person who used /forget-me" in refused.text
    assert await bot.services.reminders.count_all(carol.id) == 1
    done = await (await emulator.click(carol, message, "forget-reminders")).wait_done(timeout=5)
    assert "1 reminder and your time zone deleted" in done.text
    assert await bot.services.reminders.count_all(carol.id) == 0
    assert (await bot.services.reminders.timezone_of(carol.id)).key == "UTC"


async def test_a_banned_members_reminders_are_cancelled_at_once(bot_factory: Any, emulator: DiscordEmulator) -> None:
    bot = await bot_factory(extensions=["cogs.reminders"])
    carol, general = emulator.member("carol"), emulator.channel("general")
    rid = reminder_id((await (await emulator.invoke(carol, general, "remind", when="in 3s",
                                                    what="spam @here")).wait_done()).text)
    dm_rid = reminder_id((await (await emulator.invoke(carol, general, "remind", when="in 3s", what="mine",
                                                       dm=True)).wait_done()).text)
    await emulator.ban(carol)
    store = bot.services.reminders.store

    async def cancelled() -> bool:
        return [(await store.get(i)).state for i in (rid, dm_rid)] == ["cancelled", "cancelled"]

    await eventually(cancelled, "both reminders cancelled", timeout=2)  # before they come due
    assert (await store.get(rid)).last_error == "its owner was banned from the server"
    await asyncio.sleep(3.5)  # past the due time: nothing is delivered anywhere
    assert not [m for m in emulator.bot_messages(general) if m.content.startswith("⏰ <@")]
    assert not emulator.bot_messages(emulator.dm_channel(carol))


async def test_with_the_members_intent_a_leave_cancels_at_once(bot_factory: Any, emulator: DiscordEmulator) -> None:
    bot = await bot_factory(extensions=["cogs.reminders"], discord_members_intent=True)
    dave, general = emulator.member("dave"), emulator.channel("general")
    rid = reminder_id((await (await emulator.invoke(dave, general, "remind", when="in 2 hours", what="x")).wait_done()).text)
    await emulator.remove_member(dave)
    store = bot.services.reminders.store

    async def cancelled() -> bool:
        return (await store.get(rid)).state == "cancelled"

    await eventually(cancelled, "the reminder cancelled")
    assert (await store.get(rid)).last_error == "its owner left the server"


async def test_a_moderator_never_sees_or_cancels_someones_dm_reminder(bot_factory: Any, emulator: DiscordEmulator) -> None:
    bot = await bot_factory(extensions=["cogs.reminders"])
    carol, bob, general = emulator.member("carol"), emulator.member("bob"), emulator.channel("general")
    private = reminder_id((await (await emulator.invoke(carol, general, "remind", when="in 2 hours", what="therapy",
                                                        dm=True)).wait_done()).text)
    public = reminder_id((await (await emulator.invoke(carol, general, "remind", when="in 2 hours",
                                                       what="standup")).wait_done()).text)
    refused = await (await emulator.invoke(bob, general, "reminder-cancel", id=private)).wait_done()
    assert refused.ephemeral and f"You have no reminder #{private}" in refused.text and "therapy" not in refused.text
    assert (await bot.services.reminders.store.get(private)).state == "pending"
    cancelled = await (await emulator.invoke(bob, general, "reminder-cancel", id=public)).wait_done()
    assert "Cancelled" in cancelled.text and "standup" in cancelled.text
    listing = await (await emulator.invoke(bob, general, "reminders")).wait_done()
    assert "therapy" not in str(listing.embeds)


async def test_allowed_guild_ids_makes_the_bot_leave_other_servers(bot_factory: Any, emulator: DiscordEmulator,
                                                                  caplog: Any) -> None:
    stranger = add_standard_guild(emulator.world, "Stranger's server")  # the bot is in it before it starts
    home = emulator.guild
    bot = await bot_factory(extensions=["cogs.admin"], allowed_guild_ids=[home.id])
    await emulator.wait_until(lambda: stranger.id in emulator.world.left_guilds, timeout=10,
                              message="the bot to leave the unlisted server")
    later = await emulator.add_guild("Invited later")  # someone invites it afterwards
    await emulator.wait_until(lambda: later.id in emulator.world.left_guilds, timeout=10,
                              message="the bot to leave the server it was just invited to")
    assert [g.id for g in bot.guilds] == [home.id] and home.id in emulator.world.guilds
    assert any("not in ALLOWED_GUILD_IDS" in r.getMessage() for r in caplog.records)
