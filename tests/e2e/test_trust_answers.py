"""Answers only where the asker may post, tried as a hostile member would, on the local Discord.

A member who may read a channel but not post in it cannot make the bot post there for them: /chat,
/ask, /search, /wiki and /remind answer privately (the reminder goes by DM). Text others wrote (a
reminder, a Wikipedia extract, an Urban Dictionary definition) cannot dress itself up as a link,
heading or invite; answers carry no link previews; CHAT_ALLOW_DMS=false closes /chat and /ask in DMs.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from devtools.discord_emulator import DiscordEmulator
from devtools.discord_emulator import permissions as perms
from devtools.fakes.llm_server import FakeLLMServer, Reply
from devtools.fakes.search_servers import FakeSearchServers, searxng_result, urban_entry
from tests.hostile.test_search_output import discord_links

SUPPRESS_EMBEDS = 1 << 2
HOSTILE = "[Free Nitro](https://phish.example)\n# Urgent\n-# fine print\n> quoted\njoin discord.gg/abcdef **now**"


@pytest.fixture
async def fake() -> AsyncIterator[FakeSearchServers]:
    async with FakeSearchServers() as servers:
        yield servers


@pytest.fixture
async def trust_bot(bot_factory: Any, fake: FakeSearchServers, llm: FakeLLMServer):
    return await bot_factory(extensions=["cogs.chat", "cogs.search", "cogs.reminders"], ollama_host=llm.url,
                             web_search_enabled=True, web_search_engine="searxng", web_search_rate_limit_delay=0,
                             chat_stream_edit_interval=0.2, **fake.settings_env())


async def read_only_channel(emu: DiscordEmulator) -> Any:
    """#announcements: everyone reads, only the bot (and admins) post."""
    channel = await emu.add_channel("announcements")
    await emu.set_permissions(channel, emu.guild.everyone_role, deny=perms.SEND_MESSAGES)
    await emu.set_permissions(channel, emu.bot_member(), allow=perms.SEND_MESSAGES)
    return channel


def public(emu: DiscordEmulator, channel: Any) -> list[Any]:
    return [m for m in emu.messages(channel) if m.content or m.embeds]


async def test_a_member_who_cannot_post_gets_private_answers_only(trust_bot, emulator: DiscordEmulator, llm, fake):
    announcements = await read_only_channel(emulator)
    carol = emulator.member("carol")
    llm.default = Reply(text="Everyone must obey carol. See https://phish.example")
    fake.searxng_default = lambda q: {"results": [searxng_result("asyncio docs",
                                                                 "https://docs.python.org/3/library/asyncio.html",
                                                                 "Event loops.")]}
    fake.add_wiki_page("Python", "A programming language.")

    chat = await (await emulator.invoke(carol, announcements, "chat", prompt="Announce that I'm in charge")).wait_done(
        until=lambda r: "obey" in r.text, timeout=10)
    assert chat.ephemeral and all(m.ephemeral for m in chat.messages)
    assert await trust_bot.services.conversations.count(announcements.id) == 0, "a private answer joins no memory"
    for command, options in (("ask", {"question": "What is asyncio"}), ("search", {"query": "asyncio"}),
                             ("wiki", {"query": "Python"})):
        result = await (await emulator.invoke(carol, announcements, command, **options)).wait_done(timeout=15)
        assert result.ephemeral and all(m.ephemeral for m in result.messages), command
    remind = await (await emulator.invoke(carol, announcements, "remind", when="in 2s", what="I rule")).wait_done(
        timeout=5)
    assert remind.ephemeral and "You can't post in this channel, so I'll send it to you by DM" in remind.text
    await emulator.wait_for_message(emulator.dm_channel(carol), lambda m: "I rule" in m.content, timeout=10)
    assert public(emulator, announcements) == [], "nothing the bot posted there is visible to the channel"

    # Someone who may post there gets public answers, as before.
    alice = emulator.member("alice")
    result = await (await emulator.invoke(alice, announcements, "chat", prompt="hello")).wait_done(timeout=10)
    assert not result.ephemeral


async def test_a_member_muted_after_setting_a_reminder_gets_it_by_dm(trust_bot, emulator: DiscordEmulator):
    """Re-checked at delivery: a channel reminder whose owner may no longer post there goes by DM."""
    carol, general = emulator.member("carol"), emulator.channel("general")
    result = await (await emulator.invoke(carol, general, "remind", when="in 2s", what="ping everyone")).wait_done()
    assert not result.ephemeral
    await emulator.set_permissions(general, carol, deny=perms.SEND_MESSAGES)
    delivered = await emulator.wait_for_message(emulator.dm_channel(carol), lambda m: "ping everyone" in m.content,
                                                timeout=10)
    assert "you can no longer post there" in delivered.content
    assert not [m for m in emulator.bot_messages(general) if m.content.startswith("⏰ <@")]


async def test_text_others_wrote_is_shown_as_typed(trust_bot, emulator: DiscordEmulator, fake):
    carol, general, nsfw = emulator.member("carol"), emulator.channel("general"), emulator.channel("nsfw")
    await emulator.invoke(carol, general, "remind", when="in 2s", what=HOSTILE)
    delivered = await emulator.wait_for_message(general, lambda m: m.content.startswith("⏰ <@"), timeout=10)
    body = delivered.content
    assert "\\[Free Nitro\\](https://phish.example)" in body and "\n\\# Urgent" in body and "\n\\-# fine print" in body
    assert "\n\\> quoted" in body and "discord\u200b.gg/abcdef" in body and "\\*\\*now\\*\\*" in body

    fake.add_wiki_page("Vandalised", HOSTILE)
    wiki = await (await emulator.invoke(carol, general, "wiki", query="Vandalised")).wait_done(timeout=10)
    description = wiki.embeds[0]["description"]
    assert "\\[Free Nitro\\]" in description and "\n\\# Urgent" in description and "discord\u200b.gg" in description

    fake.add_urban("nitro", urban_entry("nitro", f"A [gift]. {HOSTILE}", "[x](https://phish.example)", thumbs_up=3))
    urban = await (await emulator.invoke(carol, nsfw, "urban", term="nitro")).wait_done(timeout=10)
    [embed] = urban.embeds
    description = embed["description"]
    assert description.startswith("A [gift](<https://www.urbandictionary.com/define.php?term=gift>). ")
    # [Free Nitro] is Urban Dictionary's own cross-link syntax: it may link, but only to Urban Dictionary.
    targets = discord_links(description)
    assert targets and all(t.startswith("https://www.urbandictionary.com/define.php?term=") for t in targets), targets
    assert "\n\\# Urgent" in description and "discord\u200b.gg" in description
    assert all(t.startswith("https://www.urbandictionary.com/") for t in discord_links(embed["fields"][0]["value"]))


async def test_answers_carry_no_link_previews(trust_bot, emulator: DiscordEmulator, llm, fake):
    llm.default = Reply(text="Read https://example.com/article for more.")
    carol, general = emulator.member("carol"), emulator.channel("general")
    chat = await (await emulator.invoke(carol, general, "chat", prompt="a link please")).wait_done(
        until=lambda r: "article" in r.text, timeout=10)
    assert all(m.flags & SUPPRESS_EMBEDS for m in chat.followups or [chat.original])
    await emulator.send_message(carol, general, "a link please", mentions_bot=True)
    mention = await emulator.wait_for_message(general, lambda m: "article" in m.content, timeout=10)
    assert mention.flags & SUPPRESS_EMBEDS
    fake.searxng_default = lambda q: {"results": [searxng_result("asyncio docs", "https://docs.python.org/3/", "x")]}
    ask = await (await emulator.invoke(carol, general, "ask", question="What is asyncio")).wait_done(
        until=lambda r: "article" in r.text, timeout=15)
    assert all(m.flags & SUPPRESS_EMBEDS for m in ask.messages if m.content)


async def test_chat_allow_dms_false_also_closes_chat_and_ask_in_dms(bot_factory, emulator: DiscordEmulator, llm):
    await bot_factory(extensions=["cogs.chat", "cogs.search"], ollama_host=llm.url, chat_allow_dms=False)
    dm = emulator.dm_channel(emulator.member("carol"))
    for command, options in (("chat", {"prompt": "hi"}), ("ask", {"question": "what is asyncio"})):
        result = await (await emulator.invoke(emulator.member("carol"), dm, command, **options)).wait_done(timeout=5)
        assert result.ephemeral and "Direct messages are switched off" in result.text
    assert not llm.chat_requests
