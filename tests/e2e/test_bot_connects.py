"""The real Bot (real cogs, temporary database) against the Discord emulator: it connects, syncs its
commands, answers every slash command of every cog, and hears mentions and its own messages."""

from __future__ import annotations

import asyncio
from typing import Any

import discord
import pytest

from bot import EXTENSIONS, Bot
from devtools.discord_emulator import DiscordEmulator, EmulatorError
from devtools.discord_emulator.commands import (
    ATTACHMENT,
    BOOLEAN,
    CHANNEL,
    INTEGER,
    MENTIONABLE,
    NUMBER,
    ROLE,
    STRING,
    SUB_COMMAND,
    SUB_COMMAND_GROUP,
    USER_OPT,
)
from devtools.discord_emulator.world import ChannelType

CRASH_REPLY = "Something went wrong on my side"


async def test_bot_connects_and_syncs_its_commands(bot: Bot, emulator: DiscordEmulator) -> None:
    assert bot.user is not None and bot.user.id == emulator.bot_user.id
    assert [g.id for g in bot.guilds] == [emulator.guild.id]
    assert bot.failed_extensions == {}
    assert emulator.records.command_syncs, "the bot synced no commands"
    sync = emulator.records.command_syncs[-1]
    assert sync.guild_id is None  # DISCORD_GUILD_ID unset: global sync
    assert sorted(c["name"] for c in sync.commands) == sorted(c.name for c in bot.tree.get_commands())
    assert emulator.command_names() == sorted(c.name for c in bot.tree.get_commands())


async def test_guild_sync_when_a_development_guild_is_set(bot_factory: Any, emulator: DiscordEmulator) -> None:
    bot = await bot_factory(discord_guild_id=emulator.guild.id)
    sync = emulator.records.command_syncs[-1]
    assert sync.guild_id == emulator.guild.id
    assert sorted(c["name"] for c in sync.commands) == sorted(
        c.name for c in bot.tree.get_commands(guild=discord.Object(emulator.guild.id)))


def _sample_value(option: dict[str, Any], emulator: DiscordEmulator) -> Any:
    """A value a user could plausibly give: the first choice, the minimum, a real member/channel/role."""
    if option.get("choices"):
        return option["choices"][0]["value"]
    kind = option["type"]
    if kind == STRING:
        return "test"[: option.get("max_length", 4)].ljust(option.get("min_length", 0), "x")
    if kind in (INTEGER, NUMBER):
        low = option.get("min_value")
        return low if low is not None else 1
    if kind == BOOLEAN:
        return True
    if kind in (USER_OPT, MENTIONABLE):
        return emulator.member("carol")
    if kind == CHANNEL:
        types = option.get("channel_types") or [int(ChannelType.TEXT)]
        return next(c for c in emulator.guild.channels.values() if int(c.type) in types)
    if kind == ROLE:
        return emulator.role("Moderator")
    if kind == ATTACHMENT:
        return ("sample.txt", b"sample attachment\n")
    raise AssertionError(f"no sample for option type {kind}")


def _invocations(command: dict[str, Any], emulator: DiscordEmulator) -> list[tuple[str, dict[str, Any]]]:
    """Every leaf command path with its required options filled in."""
    found: list[tuple[str, dict[str, Any]]] = []

    def walk(path: str, options: list[dict[str, Any]]) -> None:
        subs = [o for o in options if o["type"] in (SUB_COMMAND, SUB_COMMAND_GROUP)]
        if subs:
            for sub in subs:
                walk(f"{path} {sub['name']}", sub.get("options") or [])
            return
        found.append((path, {o["name"]: _sample_value(o, emulator) for o in options if o.get("required")}))

    walk(command["name"], command.get("options") or [])
    return found


@pytest.mark.parametrize("cog", EXTENSIONS)
async def test_every_command_of_each_cog_is_answered(cog: str, bot_factory: Any, emulator: DiscordEmulator) -> None:
    """Each slash command, run by the guild owner with plausible arguments, gets a visible answer and
    never the generic crash reply (services that are down must be reported in plain words)."""
    await bot_factory(extensions=[cog])
    commands = emulator.core.commands.global_commands
    if not commands:
        pytest.skip(f"{cog} has no slash commands")
    alice, general = emulator.member("alice"), emulator.channel("general")
    for command in commands:
        for path, options in _invocations(command, emulator):
            inter = await emulator.invoke(alice, general, path, options=options)
            result = await inter.wait_done(timeout=15)
            assert result.messages or result.modal or result.choices is not None, f"/{path} showed nothing"
            assert CRASH_REPLY not in result.text, f"/{path} crashed: {result.text}"
            assert inter.acknowledged_after is not None and inter.acknowledged_after < emulator.core.desk.ack_timeout


async def test_health_is_answered_to_an_admin_only(bot_factory: Any, emulator: DiscordEmulator) -> None:
    await bot_factory(admin_guild_ids=[emulator.guild.id])
    general = emulator.channel("general")
    result = await (await emulator.invoke(emulator.member("alice"), general, "health")).wait_done()
    assert result.ephemeral
    assert result.messages[0].embeds and result.messages[0].embeds[0]["title"] == "Bot health"
    with pytest.raises(EmulatorError, match="cannot see /health"):
        await emulator.invoke(emulator.member("carol"), general, "health")
    forced = await emulator.invoke(emulator.member("carol"), general, "health", force=True)
    refused = await forced.wait_done()
    assert refused.ephemeral and "administrators" in refused.text


async def test_a_mention_reaches_on_message(bot: Bot, emulator: DiscordEmulator) -> None:
    seen: list[discord.Message] = []
    arrived = asyncio.Event()

    async def on_message(message: discord.Message) -> None:
        seen.append(message)
        arrived.set()

    bot.add_listener(on_message)
    sent = await emulator.send_message(emulator.member("carol"), emulator.channel("general"), "are you there?",
                                       mentions_bot=True)
    await asyncio.wait_for(arrived.wait(), 5)
    message = seen[0]
    assert message.id == sent.id
    assert message.content == f"<@{bot.user.id}> are you there?"
    assert bot.user in message.mentions
    assert message.author.id == emulator.member("carol").id


async def test_the_bots_own_message_is_echoed_back(bot: Bot, emulator: DiscordEmulator) -> None:
    seen: list[discord.Message] = []
    arrived = asyncio.Event()

    async def on_message(message: discord.Message) -> None:
        if message.author == bot.user:
            seen.append(message)
            arrived.set()

    bot.add_listener(on_message)
    channel = bot.get_channel(emulator.channel("general").id)
    assert isinstance(channel, discord.TextChannel)
    sent = await channel.send("hello from the bot")
    await asyncio.wait_for(arrived.wait(), 5)
    assert seen[0].id == sent.id and seen[0].content == "hello from the bot"
    assert emulator.bot_messages(emulator.channel("general"))[-1].content == "hello from the bot"
