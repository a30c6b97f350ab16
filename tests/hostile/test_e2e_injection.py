"""Hostile output and hostile users against the real bot on the Discord emulator.

A long model answer full of pings, forged mentions and command text is posted as several messages and
pings nobody; every command Discord hides from non-admins (default_member_permissions) also refuses them
when Discord is told to show it anyway (a server admin can override those defaults in Integrations)."""

from __future__ import annotations

from typing import Any

import discord

from devtools.discord_emulator import DiscordEmulator
from devtools.discord_emulator import permissions as perms
from devtools.fakes.llm_server import Reply
from tests.hostile.strategies import COMMANDS, GRAPHEMES, MENTIONS, RTL_WORDS, ZERO_WIDTH

SUB_COMMAND, SUB_COMMAND_GROUP = 1, 2
FILLERS: dict[int, Any] = {3: "x", 4: 1, 5: False, 10: 1.0}  # string, integer, boolean, number


def _filler(option: dict[str, Any]) -> Any:
    value = FILLERS[option["type"]]
    if option["type"] in (4, 10):
        value = max(option.get("min_value", value), min(option.get("max_value", value), value))
    return value


async def test_a_long_hostile_answer_pings_nobody_in_any_message(bot_factory, emulator: DiscordEmulator, llm):
    await bot_factory(extensions=["cogs.chat"], ollama_host=llm.url, chat_stream_edit_interval=0.2)
    alice, general = emulator.member("alice"), emulator.channel("general")
    role = emulator.role("Moderator")
    forged = [f"<@{alice.id}>", f"<@!{alice.id}>", f"<@&{role.id}>", f"<@&{general.guild_id}>"]
    pieces = (MENTIONS + forged + COMMANDS + GRAPHEMES + RTL_WORDS + ZERO_WIDTH) * 12
    text = " ".join(pieces) + " END"
    assert len(text) > 4000
    llm.queue(Reply(text=text))
    inter = await emulator.invoke(emulator.member("carol"), general, "chat", prompt="say hostile things")
    await inter.wait_done(timeout=15)
    await emulator.wait_until(lambda: "END" in inter.result().messages[-1].content, timeout=20,
                              message="the whole answer")
    messages = inter.result().messages
    assert len(messages) >= 3
    for message in messages:
        for version in message.versions:
            assert not version.mention_everyone and not version.mentions and not version.mention_roles


def _paths(command: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """Every runnable path of a command ("voice", "remind set") with its options filled, so a command
    that only shows something without options also tries to change something."""
    def required(options: list[dict[str, Any]]) -> dict[str, Any]:
        return {o["name"]: (o["choices"][0]["value"] if o.get("choices") else _filler(o))
                for o in options if o["type"] in FILLERS}
    out = []
    options = command.get("options", [])
    subs = [o for o in options if o["type"] in (SUB_COMMAND, SUB_COMMAND_GROUP)]
    if not subs:
        return [(command["name"], required(options))]
    for sub in subs:
        if sub["type"] == SUB_COMMAND:
            out.append((f"{command['name']} {sub['name']}", required(sub.get("options", []))))
        else:
            out += [(f"{command['name']} {sub['name']} {leaf['name']}", required(leaf.get("options", [])))
                    for leaf in sub.get("options", [])]
    return out


# Commands that rely on default_permissions alone (none now: /voice also checks Manage Server in code).
UNGUARDED: set[str] = set()


async def _let_through(bot_factory, emulator: DiscordEmulator, names: set[str] | None) -> dict[str, str]:
    """Gated commands (all, or those in `names`) that answered a member without the permission."""
    await bot_factory()  # every cog
    guild = emulator.guild
    commands = emulator.core.commands.commands(None) + emulator.core.commands.commands(guild.id)
    gated = [c for c in commands if c.get("default_member_permissions") is not None
             and (names is None or c["name"] in names)]
    assert {c["name"] for c in gated} >= (names or {"health", "cache-clear", "voice"})
    # Every permission except the ones these commands ask for: a role that can do nearly anything else.
    everything_else = perms.ALL & ~perms.ADMINISTRATOR & ~discord.Permissions(manage_guild=True).value
    almost = await emulator.add_member("almost", roles=[await emulator.add_role("Almost", everything_else)])
    answers: dict[str, str] = {}
    for command in gated:
        for path, values in _paths(command):
            for member in (emulator.member("carol"), almost):
                inter = await emulator.invoke(member, emulator.channel("general"), path, force=True, options=values)
                answers[f"/{path} as {member.user.username}"] = (await inter.wait_done(timeout=10)).text
    return {k: v for k, v in answers.items()
            if not any(w in v.lower() for w in ("administrator", "permission", "manage server"))}


async def test_every_admin_gated_command_refuses_members_without_the_permission(bot_factory, emulator):
    let_through = await _let_through(bot_factory, emulator, None)
    assert {k.split()[0][1:] for k in let_through} <= UNGUARDED, let_through


async def test_voice_settings_refuse_members_without_manage_server(bot_factory, emulator):
    assert not await _let_through(bot_factory, emulator, {"voice"})
