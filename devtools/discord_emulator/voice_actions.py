"""The voice half of the test API: people joining and leaving voice channels, a moderator disconnecting
the bot, and the bot's own gateway op 4 (voice state and server updates, on the shard owning the guild).

Mixed into DiscordEmulator; the voice server itself is voice.py's VoiceServer, started on first use.
"""

from __future__ import annotations

from typing import Any

from devtools.discord_emulator import payloads
from devtools.discord_emulator.gateway import Gateway
from devtools.discord_emulator.gateway_session import Session
from devtools.discord_emulator.rtc import VoiceLink
from devtools.discord_emulator.world import Channel, Guild, Member, VoiceState, World


class VoiceActions:
    world: World
    gateway: Gateway
    rtc: VoiceLink
    guild: Guild  # the emulator's first guild

    @property
    def voice(self) -> Any | None:
        """The voice server (devtools.discord_emulator.voice.VoiceServer) once something used voice."""
        return self.rtc.server

    async def join_voice(self, member: Member, channel: Channel) -> None:
        """A person joins a voice channel: VOICE_STATE_UPDATE, then the voice server hears about them."""
        member.voice = VoiceState(channel.id, self.world.new_session_id())
        await self.gateway.dispatch("VOICE_STATE_UPDATE", payloads.voice_state(member.guild_id, member, member.voice),
                                    guild_id=member.guild_id)
        server = await self.rtc.get()
        if server is not None:
            await server.add_user(member.guild_id, channel.id, member.id)

    async def leave_voice(self, member: Member) -> None:
        member.voice = None
        await self.gateway.dispatch("VOICE_STATE_UPDATE", payloads.voice_state(member.guild_id, member, None),
                                    guild_id=member.guild_id)
        server = await self.rtc.get()
        if server is not None:
            await server.remove_user(member.guild_id, member.id)

    async def disconnect_bot_from_voice(self, guild: Guild | None = None) -> None:
        """A moderator uses "Disconnect" on the bot: its voice websocket closes (4014), then its voice state."""
        guild = guild or self.guild
        member = self.world.bot_member(guild)
        server = await self.rtc.get()
        if server is not None:
            server.end_session(guild.id, member.id)
            await server.wait_ended(guild.id)
        member.voice = None
        await self.gateway.dispatch("VOICE_STATE_UPDATE", payloads.voice_state(guild.id, member, None),
                                    guild_id=guild.id)

    async def _bot_voice_state(self, session: Session, data: dict[str, Any]) -> None:
        """Gateway op 4 from the bot: join/move (state + server update) or leave."""
        guild = self.world.guilds.get(int(data.get("guild_id") or 0))
        if guild is None:
            return
        member = self.world.bot_member(guild)
        channel_id = data.get("channel_id")
        server = await self.rtc.get()
        if channel_id is None:
            member.voice = None
            await self.gateway.dispatch("VOICE_STATE_UPDATE", payloads.voice_state(guild.id, member, None),
                                        guild_id=guild.id)
            if server is not None:
                server.end_session(guild.id, member.id)
            return
        member.voice = VoiceState(int(channel_id), self.world.new_session_id(),
                                  self_mute=bool(data.get("self_mute")), self_deaf=bool(data.get("self_deaf")))
        token = self.world.new_session_id()[:16]
        if server is not None:
            server.expect_session(guild_id=guild.id, channel_id=int(channel_id), user_id=member.id,
                                  session_id=member.voice.session_id, token=token)
        await self.gateway.dispatch("VOICE_STATE_UPDATE", payloads.voice_state(guild.id, member, member.voice),
                                    guild_id=guild.id)
        await self.gateway.dispatch("VOICE_SERVER_UPDATE", {
            "token": token, "guild_id": str(guild.id), "endpoint": server.endpoint if server is not None else None,
        }, guild_id=guild.id)
