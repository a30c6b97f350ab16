"""Members leaving and banned, purges (bulk deletes) and the bot leaving a guild, with the real discord.py client:
the events Discord sends for each, filtered by intents as Discord filters them."""

from __future__ import annotations

from typing import Any

import discord
import pytest

from devtools.discord_emulator import DiscordEmulator
from tests.emulator.conftest import ClientFactory


def _recorder(events: list[tuple[str, Any]]) -> Any:
    def setup(client: discord.Client) -> None:
        @client.event
        async def on_raw_member_remove(payload: discord.RawMemberRemoveEvent) -> None:
            events.append(("remove", (payload.guild_id, payload.user.id)))

        @client.event
        async def on_member_ban(guild: discord.Guild, user: discord.abc.User) -> None:
            events.append(("ban", (guild.id, user.id)))

        @client.event
        async def on_raw_bulk_message_delete(payload: discord.RawBulkMessageDeleteEvent) -> None:
            events.append(("bulk", (payload.channel_id, sorted(payload.message_ids))))

        @client.event
        async def on_raw_message_delete(payload: discord.RawMessageDeleteEvent) -> None:
            events.append(("delete", payload.message_id))

        @client.event
        async def on_guild_remove(guild: discord.Guild) -> None:
            events.append(("guild_remove", guild.id))

        @client.event
        async def on_voice_state_update(member: discord.Member, before: Any, after: discord.VoiceState) -> None:
            events.append(("voice", (member.id, after.channel.id if after.channel else None)))

    return setup


async def test_a_ban_sends_ban_add_and_member_remove_and_takes_them_out_of_voice(
        emulator: DiscordEmulator, client_factory: ClientFactory) -> None:
    events: list[tuple[str, Any]] = []
    intents = discord.Intents.default()
    intents.members = True
    await client_factory(intents=intents, setup=_recorder(events))
    carol, guild = emulator.member("carol"), emulator.guild
    await emulator.join_voice(carol, emulator.channel("Voice"))
    await emulator.wait_until(lambda: events, message="carol's voice state")
    events.clear()
    await emulator.ban(carol)
    await emulator.wait_until(lambda: ("remove", (guild.id, carol.id)) in events, message="GUILD_MEMBER_REMOVE")
    assert events == [("ban", (guild.id, carol.id)), ("voice", (carol.id, None)), ("remove", (guild.id, carol.id))]
    assert carol.id in guild.bans and carol.id not in guild.members


async def test_without_the_members_intent_a_leave_is_not_dispatched_but_a_ban_is(
        emulator: DiscordEmulator, client_factory: ClientFactory) -> None:
    events: list[tuple[str, Any]] = []
    await client_factory(setup=_recorder(events))  # Intents.default(): moderation yes, members no
    dave, carol = emulator.member("dave"), emulator.member("carol")
    await emulator.remove_member(dave)
    await emulator.ban(carol)
    await emulator.wait_until(lambda: any(name == "ban" for name, _ in events), message="GUILD_BAN_ADD")
    assert not [e for e in events if e[0] == "remove"]
    assert dave.id not in emulator.guild.members


async def test_a_purge_is_one_bulk_delete_event(emulator: DiscordEmulator, client_factory: ClientFactory, raw: Any) -> None:
    events: list[tuple[str, Any]] = []
    await client_factory(setup=_recorder(events))
    general = emulator.channel("general")
    said = [await emulator.send_message(emulator.member("carol"), general, f"spam {i}") for i in range(3)]
    await emulator.bulk_delete(said[:2], by=emulator.member("bob"))
    await emulator.wait_until(lambda: any(name == "bulk" for name, _ in events), message="MESSAGE_DELETE_BULK")
    assert events == [("bulk", (general.id, sorted(m.id for m in said[:2])))]
    assert [m.id for m in emulator.messages(general)] == [said[2].id]
    assert [d.by_user_id for d in emulator.records.deletes] == [emulator.member("bob").id] * 2

    # The bot's own purge over REST (it needs Manage Messages) is one event too.
    await emulator.give_role(emulator.bot_member(), emulator.role("Moderator"))
    status, _, _ = await raw("POST", f"/channels/{general.id}/messages/bulk-delete",
                             json={"messages": [str(said[2].id), "123"]})
    assert status == 204
    await emulator.wait_until(lambda: len([e for e in events if e[0] == "bulk"]) == 2, message="a second bulk delete")
    assert not [e for e in events if e[0] == "delete"]


async def test_the_bot_leaving_a_guild_gets_guild_delete_and_loses_it(
        emulator: DiscordEmulator, client_factory: ClientFactory) -> None:
    events: list[tuple[str, Any]] = []
    client = await client_factory(setup=_recorder(events))
    guild = emulator.guild
    await client.get_guild(guild.id).leave()
    await emulator.wait_until(lambda: ("guild_remove", guild.id) in events, message="GUILD_DELETE")
    assert client.get_guild(guild.id) is None
    assert guild.id in emulator.world.left_guilds and guild.id not in emulator.world.guilds
    assert emulator.bot_user.id not in guild.members
    with pytest.raises(discord.NotFound):
        await client.fetch_guild(guild.id)


async def test_a_member_no_longer_in_the_guild_is_unknown(emulator: DiscordEmulator, raw: Any) -> None:
    dave = emulator.member("dave")
    await emulator.remove_member(dave)
    status, body, _ = await raw("GET", f"/guilds/{emulator.guild.id}/members/{dave.id}")
    assert (status, body["code"]) == (404, 10007)
