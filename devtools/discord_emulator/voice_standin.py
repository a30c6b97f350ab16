"""discord.py's real VoiceClient wired to the voice server without the gateway emulator.

The main gateway is not the voice server's to emulate, so `StandInGateway` answers the client's op 4
with the VOICE_STATE_UPDATE / VOICE_SERVER_UPDATE payloads Discord would send, through discord.py's
own parsers. Everything else (ConnectionState, Guild, VoiceChannel, VoiceClient, the player) is real.
Tests through the full emulator use its gateway instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import discord
from discord.gateway import DiscordClientWebSocketResponse

from devtools.discord_emulator.certs import make_certificates
from devtools.discord_emulator.voice import VoiceServer

GUILD, CHANNEL, BOT = 111, 222, 333


class StandInGateway:
    """Answers discord.py's voice state request (gateway op 4) like Discord's gateway does."""

    open = False  # Client.close() only closes an open gateway

    def __init__(self, client: discord.Client, server: VoiceServer) -> None:
        self.client = client
        self.server = server
        self.token_override: str | None = None
        self.sessions = 0
        self.tasks: set[asyncio.Task[None]] = set()

    async def voice_state(self, guild_id: int, channel_id: int | None, self_mute: bool = False,
                          self_deaf: bool = False) -> None:
        state = self.client._connection
        voice_state: dict[str, Any] = {
            "guild_id": str(guild_id), "channel_id": str(channel_id) if channel_id else None, "user_id": str(BOT),
            "session_id": f"session-{self.sessions}", "deaf": False, "mute": False, "self_deaf": self_deaf,
            "self_mute": self_mute, "self_video": False, "suppress": False, "request_to_speak_timestamp": None,
        }
        loop = asyncio.get_running_loop()
        if channel_id is None:
            self.server.end_session(guild_id, BOT)

            async def confirm() -> None:  # as the emulator's gateway must: after the voice ws is gone
                await self.server.wait_ended(guild_id)
                state.parse_voice_state_update(voice_state)

            task = loop.create_task(confirm())
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)
            return
        self.sessions += 1
        voice_state["session_id"] = session_id = f"session-{self.sessions}"
        token = f"voice-token-{self.sessions}"
        self.server.expect_session(guild_id=guild_id, channel_id=channel_id, user_id=BOT, session_id=session_id,
                                   token=token)
        server_update = {"guild_id": str(guild_id), "token": self.token_override or token,
                         "endpoint": self.server.endpoint}
        loop.call_soon(state.parse_voice_state_update, voice_state)
        loop.call_soon(state.parse_voice_server_update, server_update)


@dataclass
class Harness:
    server: VoiceServer
    client: discord.Client
    gateway: StandInGateway
    channel: discord.VoiceChannel


def _guild_payload() -> dict[str, Any]:
    bot_user = {"id": str(BOT), "username": "bot", "discriminator": "0", "global_name": None, "avatar": None,
                "bot": True}
    return {
        "id": str(GUILD), "name": "Voice test", "icon": None, "owner_id": "1", "features": [], "emojis": [],
        "stickers": [], "member_count": 1, "voice_states": [],
        "roles": [{"id": str(GUILD), "name": "@everyone", "permissions": "0", "position": 0, "color": 0,
                   "hoist": False, "managed": False, "mentionable": False}],
        "channels": [{"id": str(CHANNEL), "type": 2, "name": "Lounge", "position": 0, "bitrate": 64000,
                      "user_limit": 0, "permission_overwrites": [], "guild_id": str(GUILD)}],
        "members": [{"user": bot_user, "roles": [], "joined_at": "2024-01-01T00:00:00+00:00", "deaf": False, "flags": 0,
                     "mute": False}],
    }


@contextlib.asynccontextmanager
async def discordpy_voice(tmp_path: Path, **server_options: Any) -> AsyncIterator[Harness]:
    """A started VoiceServer and a logged-out discord.Client that can join its voice channel."""
    tls = make_certificates(tmp_path)
    server = VoiceServer(tls.server_context(), **server_options)
    await server.start()
    client = discord.Client(intents=discord.Intents.default())
    try:
        async with client:
            yield _wire(client, server, tls.client_context())
    finally:
        await server.stop()


def _wire(client: discord.Client, server: VoiceServer, trust: ssl.SSLContext) -> Harness:
    """Give a logged-out client what login and READY would: an HTTP session trusting our CA, its user,
    the guild with its voice channel, and the stand-in gateway."""
    client.http._HTTPClient__session = aiohttp.ClientSession(  # type: ignore[attr-defined]
        connector=aiohttp.TCPConnector(ssl=trust), ws_response_class=DiscordClientWebSocketResponse)
    state = client._connection
    payload = _guild_payload()
    state.user = discord.ClientUser(state=state, data=payload["members"][0]["user"])
    guild = discord.Guild(data=payload, state=state)
    state._add_guild(guild)
    gateway = StandInGateway(client, server)
    client.ws = gateway  # type: ignore[assignment]
    channel = guild.get_channel(CHANNEL)
    assert isinstance(channel, discord.VoiceChannel)
    return Harness(server, client, gateway, channel)
