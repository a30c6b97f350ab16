"""Shards as Discord runs them, against the real discord.py: an AutoShardedClient over some shards and
two single-shard clients each get only their guilds' events (GUILD_CREATE, messages, interactions, voice),
DMs go to shard 0, IDENTIFY's shard is checked (4010) and a bot with too many guilds must shard (4011)."""

from __future__ import annotations

import asyncio
import json
from functools import partial
from typing import Any

import aiohttp
import discord
import pytest
import yarl
from discord import app_commands

from devtools.discord_emulator import DiscordEmulator
from devtools.discord_emulator.clock import Clock
from devtools.discord_emulator.gateway_session import Session
from devtools.discord_emulator.snowflake import Snowflakes
from devtools.discord_emulator.world import Guild, default_world
from tests.emulator.conftest import ClientFactory, EmuClient

TWO_SHARDS = {"world": partial(default_world, shards=2)}
THREE_SHARDS = {"world": partial(default_world, shards=3)}


def _sent(session: Session, event: str) -> list[dict[str, Any]]:
    """The dispatches of one type the emulator sent on a session (READY flow included)."""
    frames = [json.loads(frame) for _, frame in session.sent]
    return [f["d"] for f in frames if f["t"] == event]


def _session(emu: DiscordEmulator, shard_id: int) -> Session:
    (session,) = emu.gateway.shard_sessions(shard_id)
    return session


def _shard(guild: Guild, count: int) -> int:
    return (guild.id >> 22) % count


def test_ids_can_be_made_for_any_shard() -> None:
    flakes = Snowflakes(Clock())
    made = []
    for i in range(60):
        made.append(flakes.next())
        wanted = i % 3
        made.append(flakes.next_on_shard(wanted, 3))
        assert (made[-1] >> 22) % 3 == wanted
    assert made == sorted(set(made)), "ids must stay unique and strictly increasing"


@pytest.mark.parametrize("emulator", [THREE_SHARDS], indirect=True)
async def test_a_default_world_can_have_one_guild_per_shard(emulator: DiscordEmulator) -> None:
    assert [g.name for g in emulator.guilds] == ["Emulator Guild", "Emulator Guild 2", "Emulator Guild 3"]
    assert [_shard(g, 3) for g in emulator.guilds] == [0, 1, 2]
    second = emulator.guild_named("Emulator Guild 2")
    alice = emulator.member("alice")
    assert emulator.member("alice", guild=second).user is alice.user, "one user, a member of both guilds"
    assert emulator.channel("general", guild=second).id != emulator.channel("general").id


@pytest.mark.parametrize("emulator", [THREE_SHARDS], indirect=True)
async def test_an_auto_sharded_client_over_two_of_three_shards_sees_only_their_guilds(
        emulator: DiscordEmulator, client_factory: ClientFactory) -> None:
    got: list[tuple[int | None, str]] = []

    def setup(client: discord.Client) -> None:
        @client.event
        async def on_message(message: discord.Message) -> None:
            got.append((message.guild.id if message.guild else None, message.content))

    client = await client_factory(sharded=True, shard_ids=[0, 1], shard_count=3, setup=setup)
    g0, g1, g2 = emulator.guilds
    assert sorted(s.shard for s in emulator.gateway.live_sessions) == [(0, 3), (1, 3)]
    assert {g.id for g in client.guilds} == {g0.id, g1.id}
    assert client.get_guild(g0.id).shard_id == 0 and client.get_guild(g1.id).shard_id == 1
    for shard_id, guild in ((0, g0), (1, g1)):
        session = _session(emulator, shard_id)
        assert [g["id"] for g in _sent(session, "READY")[0]["guilds"]] == [str(guild.id)]
        assert [g["id"] for g in _sent(session, "GUILD_CREATE")] == [str(guild.id)]
        assert _sent(session, "READY")[0]["shard"] == [shard_id, 3]

    carol = emulator.member("carol")
    for guild in (g0, g1, g2):
        await emulator.send_message(carol, emulator.channel("general", guild=guild), f"in {guild.name}")
    await emulator.send_message(carol, emulator.dm_channel(carol), "a DM")
    await emulator.wait_until(lambda: len(got) == 3, message=f"three messages (got {got})")
    await asyncio.sleep(0.1)  # a message from the third shard's guild would have arrived by now
    assert sorted(got, key=str) == sorted([(g0.id, "in Emulator Guild"), (g1.id, "in Emulator Guild 2"),
                                           (None, "a DM")], key=str)
    shard0, shard1 = _session(emulator, 0), _session(emulator, 1)
    assert [m["content"] for m in _sent(shard0, "MESSAGE_CREATE")] == ["in Emulator Guild", "a DM"]
    assert [m["content"] for m in _sent(shard1, "MESSAGE_CREATE")] == ["in Emulator Guild 2"]


@pytest.mark.parametrize("emulator", [TWO_SHARDS], indirect=True)
async def test_an_auto_sharded_client_takes_the_recommended_count(emulator: DiscordEmulator,
                                                                   client_factory: ClientFactory) -> None:
    client = await client_factory(sharded=True)
    assert emulator.records.requests_to("GET", "/gateway/bot"), "the client did not ask for the shard count"
    assert client.shard_count == 2
    assert sorted(s.shard for s in emulator.gateway.live_sessions) == [(0, 2), (1, 2)]
    assert {g.id for g in client.guilds} == {g.id for g in emulator.guilds}


async def test_gateway_bot_recommends_one_shard_per_thousand_guilds(emulator: DiscordEmulator, raw: Any) -> None:
    status, body, _ = await raw("GET", "/gateway/bot")
    assert status == 200 and body["shards"] == 1 and body["url"] == emulator.gateway_url
    for i in range(1000):
        emulator.world.add_guild(f"guild {i}", emulator.member("alice").user)
    assert (await raw("GET", "/gateway/bot"))[1]["shards"] == 2
    emulator.world.recommended_shards = 16
    assert (await raw("GET", "/gateway/bot"))[1]["shards"] == 16


class ShardBots:
    """Two single-shard clients with the same slash command; records which one saw what."""

    def __init__(self) -> None:
        self.messages: dict[int, list[str]] = {0: [], 1: []}
        self.answered: dict[int, list[str]] = {0: [], 1: []}
        self.voice: dict[int, list[str]] = {0: [], 1: []}
        self.joined: dict[int, list[int]] = {0: [], 1: []}

    def setup(self, shard_id: int) -> Any:
        def setup(client: discord.Client) -> None:
            tree = app_commands.CommandTree(client)

            @tree.command(description="Which shard answers")
            async def where(interaction: discord.Interaction) -> None:
                self.answered[shard_id].append(interaction.guild.name if interaction.guild else "DM")
                await interaction.response.send_message(f"shard {interaction.client.shard_id}")

            @client.event
            async def on_message(message: discord.Message) -> None:
                self.messages[shard_id].append(message.content)

            @client.event
            async def on_voice_state_update(member: discord.Member, before: Any, after: Any) -> None:
                self.voice[shard_id].append(member.name)

            @client.event
            async def on_guild_join(guild: discord.Guild) -> None:
                self.joined[shard_id].append(guild.id)

            async def sync() -> None:
                await tree.sync()

            client.setup_hook = sync  # type: ignore[method-assign]

        return setup

    async def start(self, client_factory: ClientFactory) -> tuple[EmuClient, EmuClient]:
        first = await client_factory(shard_id=0, shard_count=2, setup=self.setup(0))
        second = await client_factory(shard_id=1, shard_count=2, setup=self.setup(1))
        return first, second


@pytest.mark.parametrize("emulator", [TWO_SHARDS], indirect=True)
async def test_two_clients_one_per_shard_get_only_their_guilds_messages(emulator: DiscordEmulator,
                                                                        client_factory: ClientFactory) -> None:
    bots = ShardBots()
    first, second = await bots.start(client_factory)
    g0, g1 = emulator.guilds
    assert [g.id for g in first.guilds] == [g0.id] and [g.id for g in second.guilds] == [g1.id]
    bob = emulator.member("bob")
    await emulator.send_message(bob, emulator.channel("general", guild=g1), "one for shard 1")
    await emulator.send_message(bob, emulator.channel("random", guild=g0), "one for shard 0")
    await emulator.send_message(bob, emulator.channel("general-thread", guild=g1), "in a thread of shard 1")
    await emulator.send_message(bob, emulator.dm_channel(bob), "a DM, for shard 0")
    await emulator.wait_until(lambda: len(bots.messages[0]) == 2 and len(bots.messages[1]) == 2,
                              message=f"two messages each (got {bots.messages})")
    await asyncio.sleep(0.1)
    assert bots.messages == {0: ["one for shard 0", "a DM, for shard 0"],
                             1: ["one for shard 1", "in a thread of shard 1"]}


@pytest.mark.parametrize("emulator", [TWO_SHARDS], indirect=True)
async def test_two_clients_one_per_shard_answer_only_their_guilds_interactions(
        emulator: DiscordEmulator, client_factory: ClientFactory) -> None:
    bots = ShardBots()
    await bots.start(client_factory)
    g0, g1 = emulator.guilds
    carol = emulator.member("carol")
    asked = [await emulator.invoke(carol, emulator.channel("general", guild=g1), "where"),
             await emulator.invoke(carol, emulator.channel("general", guild=g0), "where"),
             await emulator.invoke(carol, emulator.dm_channel(carol), "where")]
    answers = [(await inter.wait_done()).content for inter in asked]
    assert answers == ["shard 1", "shard 0", "shard 0"]
    assert bots.answered == {0: ["Emulator Guild", "DM"], 1: ["Emulator Guild 2"]}
    assert all(not inter.rejected for inter in asked), "an interaction reached both shards"


@pytest.mark.parametrize("emulator", [TWO_SHARDS], indirect=True)
async def test_voice_events_go_to_the_shard_of_their_guild(emulator: DiscordEmulator,
                                                           client_factory: ClientFactory) -> None:
    bots = ShardBots()
    _, second = await bots.start(client_factory)
    g1 = emulator.guilds[1]
    await emulator.join_voice(emulator.member("dave", guild=g1), emulator.channel("Voice", guild=g1))
    await emulator.wait_until(lambda: bots.voice[1] == ["dave"], message=f"dave's voice state (got {bots.voice})")

    guild = second.get_guild(g1.id)
    await guild.change_voice_state(channel=guild.get_channel(emulator.channel("Voice", guild=g1).id))
    await emulator.wait_until(lambda: guild.me.voice is not None, message="the bot's voice state on shard 1")
    server_updates = _sent(_session(emulator, 1), "VOICE_SERVER_UPDATE")
    assert [u["guild_id"] for u in server_updates] == [str(g1.id)]
    await guild.change_voice_state(channel=None)
    await emulator.wait_until(lambda: guild.me.voice is None, message="the bot leaving voice on shard 1")
    shard0 = _session(emulator, 0)
    assert not _sent(shard0, "VOICE_STATE_UPDATE") and not _sent(shard0, "VOICE_SERVER_UPDATE")
    assert bots.voice[0] == []


@pytest.mark.parametrize("emulator", [TWO_SHARDS], indirect=True)
async def test_a_guild_joined_later_reaches_only_its_shard(emulator: DiscordEmulator,
                                                           client_factory: ClientFactory) -> None:
    bots = ShardBots()
    first, second = await bots.start(client_factory)
    late = await emulator.add_guild("Late Guild", shard=(1, 2))
    assert _shard(late, 2) == 1
    await emulator.wait_until(lambda: bots.joined[1] == [late.id], message="GUILD_CREATE on shard 1")
    assert second.get_guild(late.id).get_channel(emulator.channel("general", guild=late).id) is not None
    assert bots.joined[0] == [] and first.get_guild(late.id) is None


async def _raw_identify(emulator: DiscordEmulator, **fields: Any) -> tuple[aiohttp.ClientSession,
                                                                             aiohttp.ClientWebSocketResponse]:
    session = aiohttp.ClientSession()
    ws = await session.ws_connect(emulator.gateway_url + "?v=10&encoding=json")
    assert (await ws.receive_json(timeout=5))["op"] == 10
    await ws.send_json({"op": 2, "d": {"token": emulator.token, "intents": 1 | (1 << 7) | (1 << 9),
                                       "properties": {}, **fields}})
    return session, ws


@pytest.mark.parametrize("shard", [[2, 2], [-1, 2], [0, 0], [0], "0,2", [True, 2], [0.0, 2]])
async def test_an_invalid_shard_closes_with_4010(emulator: DiscordEmulator, shard: Any) -> None:
    session, ws = await _raw_identify(emulator, shard=shard)
    async with session:
        message = await ws.receive(timeout=5)
        assert message.type is aiohttp.WSMsgType.CLOSE and ws.close_code == 4010
    assert emulator.gateway.identifies == 0


@pytest.mark.parametrize("emulator", [TWO_SHARDS], indirect=True)
async def test_too_many_guilds_for_one_connection_closes_with_4011(emulator: DiscordEmulator) -> None:
    emulator.world.max_guilds_per_shard = 1
    session, ws = await _raw_identify(emulator)
    async with session:
        message = await ws.receive(timeout=5)
        assert message.type is aiohttp.WSMsgType.CLOSE and ws.close_code == 4011
    session, ws = await _raw_identify(emulator, shard=[1, 2])
    async with session:
        ready = await ws.receive_json(timeout=5)
        assert ready["t"] == "READY" and [g["id"] for g in ready["d"]["guilds"]] == [str(emulator.guilds[1].id)]
        await ws.close()


@pytest.mark.parametrize("emulator", [TWO_SHARDS], indirect=True)
async def test_a_bot_that_must_shard_is_refused_unsharded_and_connects_auto_sharded(
        emulator: DiscordEmulator, client_factory: ClientFactory) -> None:
    emulator.world.max_guilds_per_shard = 1
    discord.http.Route.BASE = emulator.api_url  # put back by client_factory's _discord_routing
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(emulator.gateway_url)
    client = discord.Client(intents=discord.Intents.default())
    with pytest.raises(discord.ConnectionClosed) as closed:
        await asyncio.wait_for(client.start(emulator.token), 10)
    await client.close()
    assert closed.value.code == 4011
    sharded = await client_factory(sharded=True)
    assert sharded.shard_count == 2 and len(sharded.guilds) == 2


@pytest.mark.parametrize("emulator", [TWO_SHARDS], indirect=True)
async def test_a_guild_command_on_the_wrong_shard_is_ignored(emulator: DiscordEmulator) -> None:
    g1 = emulator.guilds[1]
    session, ws = await _raw_identify(emulator, shard=[0, 2])
    async with session:
        assert (await ws.receive_json(timeout=5))["t"] == "READY"
        await ws.send_json({"op": 4, "d": {"guild_id": str(g1.id), "channel_id": str(emulator.channel("Voice", guild=g1).id),
                                           "self_mute": False, "self_deaf": False}})
        await emulator.wait_until(lambda: emulator.records.problems, message="the ignored op 4")
        await ws.close()
    assert "op 4 for guild" in emulator.records.problems[0] and "shard 1 does" in emulator.records.problems[0]
    assert emulator.world.bot_member(g1).voice is None
    assert not any(_sent(s, "VOICE_STATE_UPDATE") for s in emulator.gateway.sessions)
    emulator.records.problems.clear()
