"""The gateway protocol against the real discord.py client: heartbeats, identify, resume, invalid
sessions, intents, voice state; and raw frames for what discord.py never does wrong."""

from __future__ import annotations

import asyncio
import json
import math
from typing import Any

import aiohttp
import discord
import pytest

from devtools.discord_emulator import DiscordEmulator
from devtools.discord_emulator.certs import TestCertificates
from discord_ui.routing import route_discord_to
from tests.emulator.conftest import ClientFactory


def _events(emulator: DiscordEmulator, name: str) -> list[dict[str, Any]]:
    """Dispatches of one event type the emulator sent in the latest session."""
    frames = [json.loads(frame) for _, frame in emulator.gateway.sessions[-1].sent]
    return [f["d"] for f in frames if f["t"] == name]


async def test_heartbeats_are_acknowledged(discord_certificates: TestCertificates, client_factory: ClientFactory) -> None:
    async with DiscordEmulator(certificates=discord_certificates, heartbeat_interval=0.05) as emu:
        client = await client_factory(emu=emu)
        await emu.wait_until(lambda: emu.gateway.heartbeats >= 5, timeout=5, message="five heartbeats")
        assert math.isfinite(client.latency), "no HEARTBEAT_ACK reached the client"
        assert emu.gateway.identifies == 1 and emu.gateway.sessions[0].resumes == 0, "the client reconnected"
        await client.close()


async def test_identify_gets_ready_and_every_guild(emulator: DiscordEmulator, client_factory: ClientFactory) -> None:
    client = await client_factory()
    identify = next(c for c in emulator.records.gateway_commands if c.op == 2)
    assert identify.data["intents"] == client.intents.value
    assert client.user is not None and client.user.id == emulator.bot_user.id and client.user.bot
    guild = client.get_guild(emulator.guild.id)
    assert guild is not None and not guild.unavailable
    assert {c.name for c in guild.text_channels} == {"general", "random", "nsfw"}
    assert [c.name for c in guild.voice_channels] == ["Voice"]
    assert [t.name for t in guild.threads] == ["general-thread"]
    assert guild.get_channel(emulator.channel("nsfw").id).is_nsfw()
    assert {r.name for r in guild.roles} >= {"@everyone", "Admin", "Moderator"}
    assert guild.owner_id == emulator.member("alice").id
    assert guild.me is not None and guild.me.guild_permissions.send_messages
    # Without the members intent Discord sends only the bot (and members in voice).
    assert guild.get_member(emulator.member("alice").id) is None
    ready = _events(emulator, "READY")[0]
    assert ready["resume_gateway_url"] == emulator.gateway_url
    assert ready["application"]["id"] == str(emulator.world.application.id)


async def test_members_intent_delivers_every_member(emulator: DiscordEmulator, client_factory: ClientFactory) -> None:
    intents = discord.Intents.default()
    intents.members = True
    client = await client_factory(intents=intents)
    guild = client.get_guild(emulator.guild.id)
    assert {m.name for m in guild.members} == {m.name for m in emulator.guild.members.values()}
    assert guild.get_member(emulator.member("bob").id).get_role(emulator.role("Moderator").id) is not None


async def test_resume_replays_what_was_missed(emulator: DiscordEmulator, client_factory: ClientFactory) -> None:
    seen: list[str] = []
    resumed = asyncio.Event()

    def setup(client: discord.Client) -> None:
        @client.event
        async def on_message(message: discord.Message) -> None:
            seen.append(message.content)

        @client.event
        async def on_resumed() -> None:
            resumed.set()

    await client_factory(setup=setup)
    general, alice = emulator.channel("general"), emulator.member("alice")
    await emulator.send_message(alice, general, "before")
    async with emulator.gateway.offline():
        assert not emulator.gateway.connected
        await emulator.send_message(alice, general, "while away 1")
        await emulator.send_message(alice, general, "while away 2")
    await asyncio.wait_for(resumed.wait(), 5)
    await emulator.wait_until(lambda: len(seen) == 3, message=f"three messages (got {seen})")
    assert seen == ["before", "while away 1", "while away 2"]
    assert emulator.gateway.identifies == 1, "the client identified again instead of resuming"
    assert emulator.gateway.sessions[0].resumes == 1


async def test_reconnect_request_leads_to_resume(emulator: DiscordEmulator, client_factory: ClientFactory) -> None:
    await client_factory()
    await emulator.gateway.request_reconnect()
    await emulator.gateway.wait_for_resume(1)
    assert emulator.gateway.identifies == 1


async def test_invalid_session_makes_the_client_identify_again(emulator: DiscordEmulator,
                                                               client_factory: ClientFactory) -> None:
    client = await client_factory()
    await emulator.gateway.invalidate_session()
    await emulator.gateway.wait_for_identify(2)
    await emulator.wait_until(lambda: client.ready_count == 2, message="a second on_ready")
    assert client.get_guild(emulator.guild.id) is not None
    assert emulator.gateway.sessions[0].id != emulator.gateway.sessions[1].id


async def test_refused_resume_falls_back_to_identify(emulator: DiscordEmulator, client_factory: ClientFactory) -> None:
    await client_factory()
    emulator.gateway.forget_sessions()
    await emulator.gateway.drop()
    await emulator.gateway.wait_for_identify(2)
    resumes = [c for c in emulator.records.gateway_commands if c.op == 6]
    assert len(resumes) == 1, "the client should have tried to resume first"


async def test_without_message_content_only_mentions_and_dms_have_content(
        emulator: DiscordEmulator, client_factory: ClientFactory) -> None:
    seen: dict[str, discord.Message] = {}

    def setup(client: discord.Client) -> None:
        @client.event
        async def on_message(message: discord.Message) -> None:
            seen[message.clean_content or f"empty {message.id}"] = message

    await client_factory(intents=discord.Intents.default(), setup=setup)
    carol, general = emulator.member("carol"), emulator.channel("general")
    plain = await emulator.send_message(carol, general, "a secret")
    await emulator.send_message(carol, general, "for the bot", mentions_bot=True)
    await emulator.send_message(carol, emulator.dm_channel(carol), "a direct message")
    await emulator.wait_until(lambda: len(seen) == 3, message="three messages")
    assert f"empty {plain.id}" in seen
    assert "@EmuBot for the bot" in seen
    assert "a direct message" in seen


async def test_intents_decide_which_events_arrive(emulator: DiscordEmulator, client_factory: ClientFactory) -> None:
    got: list[str] = []

    def setup(client: discord.Client) -> None:
        @client.event
        async def on_message(message: discord.Message) -> None:
            got.append(message.content)

    intents = discord.Intents.default()
    intents.guild_messages = False
    intents.message_content = True
    await client_factory(intents=intents, setup=setup)
    carol = emulator.member("carol")
    await emulator.send_message(carol, emulator.channel("general"), "in the guild")
    await emulator.send_message(carol, emulator.dm_channel(carol), "in a DM")
    await emulator.wait_until(lambda: got, message="the DM")
    assert got == ["in a DM"]
    assert not any(e for e in _events(emulator, "MESSAGE_CREATE") if e.get("guild_id"))


async def test_bot_voice_state_gets_state_and_server_updates(emulator: DiscordEmulator,
                                                             client_factory: ClientFactory) -> None:
    client = await client_factory()
    guild = client.get_guild(emulator.guild.id)
    voice = guild.get_channel(emulator.channel("Voice").id)
    await guild.change_voice_state(channel=voice, self_deaf=True)
    await emulator.wait_until(lambda: guild.me.voice is not None, message="the bot's voice state")
    assert guild.me.voice.channel == voice and guild.me.voice.self_deaf
    server_update = _events(emulator, "VOICE_SERVER_UPDATE")[-1]
    assert server_update["guild_id"] == str(guild.id) and server_update["token"]
    expected = emulator.voice.endpoint if emulator.voice is not None else None
    assert server_update["endpoint"] == expected
    await guild.change_voice_state(channel=None)
    await emulator.wait_until(lambda: guild.me.voice is None, message="the bot leaving voice")
    assert emulator.bot_member().voice is None


async def test_a_member_joining_voice_becomes_known(emulator: DiscordEmulator, client_factory: ClientFactory) -> None:
    joined: list[discord.Member] = []

    def setup(client: discord.Client) -> None:
        @client.event
        async def on_voice_state_update(member: discord.Member, before: Any, after: Any) -> None:
            joined.append(member)

    client = await client_factory(setup=setup)
    dave = emulator.member("dave")
    await emulator.join_voice(dave, emulator.channel("Voice"))
    await emulator.wait_until(lambda: joined, message="VOICE_STATE_UPDATE for dave")
    member = client.get_guild(emulator.guild.id).get_member(dave.id)
    assert member is not None and member.voice.channel.id == emulator.channel("Voice").id
    await emulator.leave_voice(dave)
    await emulator.wait_until(lambda: len(joined) == 2, message="dave leaving")
    assert joined[-1].voice is None


async def _raw_gateway(emulator: DiscordEmulator) -> tuple[aiohttp.ClientSession, aiohttp.ClientWebSocketResponse]:
    session = aiohttp.ClientSession()
    ws = await session.ws_connect(emulator.gateway_url + "?v=10&encoding=json")
    hello = await ws.receive_json(timeout=5)
    assert hello["op"] == 10 and hello["d"]["heartbeat_interval"] > 0
    return session, ws


@pytest.mark.parametrize(("frame", "code"), [
    ({"op": 2, "d": {"token": "wrong", "intents": 513, "properties": {}}}, 4004),
    ({"op": 3, "d": {"status": "online"}}, 4003),
    ({"op": 2, "d": {"token": "TOKEN", "intents": 1 << 40, "properties": {}}}, 4013),
    ({"op": 99, "d": None}, 4003),
])
async def test_bad_frames_close_with_discords_codes(emulator: DiscordEmulator, frame: dict[str, Any], code: int) -> None:
    if frame["d"] and frame["d"].get("token") == "TOKEN":
        frame["d"]["token"] = emulator.token
    session, ws = await _raw_gateway(emulator)
    async with session:
        await ws.send_json(frame)
        message = await ws.receive(timeout=5)
        assert message.type is aiohttp.WSMsgType.CLOSE
        assert ws.close_code == code


async def test_heartbeat_before_identify_is_acked(emulator: DiscordEmulator) -> None:
    session, ws = await _raw_gateway(emulator)
    async with session:
        await ws.send_json({"op": 1, "d": None})
        ack = await ws.receive_json(timeout=5)
        assert ack["op"] == 11
        await ws.close()


async def test_disallowed_privileged_intent_stops_the_client(emulator: DiscordEmulator) -> None:
    emulator.world.application.message_content_intent = False
    route_discord_to(emulator.api_url, emulator.gateway_url)
    intents = discord.Intents.default()
    intents.message_content = True
    client = discord.Client(intents=intents)
    with pytest.raises(discord.PrivilegedIntentsRequired):
        await asyncio.wait_for(client.start(emulator.token), 10)
    await client.close()


async def test_a_wrong_token_fails_login(emulator: DiscordEmulator) -> None:
    route_discord_to(emulator.api_url, emulator.gateway_url)
    client = discord.Client(intents=discord.Intents.default())
    with pytest.raises(discord.LoginFailure):
        await client.login("not-the-token")
    await client.close()
