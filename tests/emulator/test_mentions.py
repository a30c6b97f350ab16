"""Who a message pings is computed from allowed_mentions, as Discord does, so tests can assert that
`@everyone` in a bot answer pinged nobody."""

from __future__ import annotations

from typing import Any

import discord
import pytest

from devtools.discord_emulator import DiscordEmulator
from devtools.discord_emulator import permissions as perms
from devtools.discord_emulator.clock import Clock
from devtools.discord_emulator.mentions import compute_mentions
from devtools.discord_emulator.snowflake import Snowflakes
from devtools.discord_emulator.world import World, default_world
from tests.emulator.conftest import ClientFactory


@pytest.fixture
def world() -> World:
    return default_world(Clock(), Snowflakes(Clock()))


def test_no_allowed_mentions_pings_everything_in_the_content(world: World) -> None:
    guild = next(iter(world.guilds.values()))
    carol, moderator = guild.member_named("carol"), guild.role_named("Moderator")
    content = f"{carol.mention} {moderator.mention} @everyone"
    found = compute_mentions(world, guild.channel_named("general"), guild.member_named("alice").user, content, None)
    assert found.users == [carol.id] and found.roles == [moderator.id] and found.everyone


@pytest.mark.parametrize(("allowed", "users", "roles", "everyone"), [
    ({"parse": []}, False, False, False),
    ({"parse": ["users"]}, True, False, False),
    ({"parse": ["roles"]}, False, True, False),
    ({"parse": ["everyone"]}, False, False, True),
    ({"parse": [], "users": ["USER"]}, True, False, False),
    ({"parse": [], "roles": ["ROLE"]}, False, True, False),
])
def test_allowed_mentions_decide_who_is_pinged(world: World, allowed: dict, users: bool, roles: bool,
                                               everyone: bool) -> None:
    guild = next(iter(world.guilds.values()))
    carol, moderator = guild.member_named("carol"), guild.role_named("Moderator")
    allowed = {k: [str(carol.id) if v == "USER" else str(moderator.id) if v == "ROLE" else v for v in vs]
               for k, vs in allowed.items()}
    found = compute_mentions(world, guild.channel_named("general"), world.bot_user,
                             f"{carol.mention} <@!{carol.id}> {moderator.mention} @here", allowed)
    assert found.users == ([carol.id] if users else [])
    assert found.roles == ([moderator.id] if roles else [])
    assert found.everyone is everyone


def test_everyone_needs_the_permission_and_roles_must_be_mentionable(world: World) -> None:
    guild = next(iter(world.guilds.values()))
    guild.everyone_role.permissions &= ~perms.MENTION_EVERYONE
    admin_role = guild.role_named("Admin")  # not mentionable
    found = compute_mentions(world, guild.channel_named("general"), guild.member_named("carol").user,
                             f"@everyone {admin_role.mention}", None)
    assert not found.everyone and found.roles == []
    found = compute_mentions(world, guild.channel_named("general"), guild.member_named("alice").user,
                             f"@everyone {admin_role.mention}", None)  # the owner may do both
    assert found.everyone and found.roles == [admin_role.id]


def test_a_reply_pings_the_replied_user_unless_told_not_to(world: World) -> None:
    guild = next(iter(world.guilds.values()))
    carol = guild.member_named("carol")
    general = guild.channel_named("general")
    assert compute_mentions(world, general, world.bot_user, "hi", None, replied_user_id=carol.id).users == [carol.id]
    quiet = {"parse": [], "replied_user": False}
    assert compute_mentions(world, general, world.bot_user, "hi", quiet, replied_user_id=carol.id).users == []


async def test_the_bots_everyone_pings_nobody_with_allowed_mentions_none(emulator: DiscordEmulator,
                                                                         client_factory: ClientFactory) -> None:
    client = await client_factory(allowed_mentions=discord.AllowedMentions.none())
    channel = client.get_channel(emulator.channel("general").id)
    carol = emulator.member("carol")
    await channel.send(f"@everyone look, {carol.mention}")
    await channel.send(f"@everyone for real, {carol.mention}", allowed_mentions=discord.AllowedMentions.all())
    quiet, loud = emulator.messages(emulator.channel("general"))
    assert quiet.latest.allowed_mentions == {"parse": []}
    assert quiet.latest.mentions == [] and not quiet.latest.mention_everyone
    assert loud.latest.mentions == [carol.id] and loud.latest.mention_everyone
    fetched = await channel.fetch_message(quiet.id)
    assert fetched.mentions == [] and not fetched.mention_everyone


async def test_an_overwrite_removing_mention_everyone_is_respected(emulator: DiscordEmulator,
                                                                   client_factory: ClientFactory) -> None:
    client = await client_factory()
    await emulator.set_permissions(emulator.channel("general"), emulator.bot_member(), deny=perms.MENTION_EVERYONE)
    await client.get_channel(emulator.channel("general").id).send(
        "@everyone", allowed_mentions=discord.AllowedMentions.all())
    assert not emulator.messages(emulator.channel("general"))[0].latest.mention_everyone


async def test_users_and_roles_lists_conflicting_with_parse_are_refused(emulator: DiscordEmulator, raw: Any) -> None:
    status, body, _ = await raw("POST", f"/channels/{emulator.channel('general').id}/messages",
                                json={"content": "x", "allowed_mentions": {"parse": ["users"], "users": ["1"]}})
    assert status == 400 and body["code"] == 50035
