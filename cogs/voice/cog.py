"""/join, /leave, /say and /voice: the bot in voice channels, talking and listening.

Thin: the receive path is cogs/voice/receive.py, a guild's live session cogs/voice/session.py, who is
heard and told cogs/voice/consent.py, and everything that needs no Discord (endpointing, sentences, the
turn pipeline, settings, opt-outs) services/voice. A member controls the bot only from its own call
(or with Move Members): /join brings it to the caller's channel, /leave and /say need its channel.
Nothing is rejoined after a restart: sessions live only in memory, only the settings persist. A
connection that drops while the bot runs is rejoined (discord.py reconnects by itself when it can;
when it gives up, this cog joins again), unless a moderator or Discord removed the bot.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections import defaultdict

import discord
from discord import app_commands
from discord.ext import commands

from bot import Bot
from cogs.voice.consent import Consent
from cogs.voice.receive import ReceivingVoiceClient
from cogs.voice.session import GuildVoiceSession
from discord_ui.errors import describe_failure
from discord_ui.escape import inert
from discord_ui.permissions import controls_voice
from discord_ui.ui import reply
from services.errors import ServiceError
from services.voice import BargedIn, EndpointConfig, GuildVoiceSettings, PcmQueue, VoiceConversation
from services.voice.addressing import ADDRESS_MODES
from services.voice.settings_store import MEMORY_CHOICES

log = logging.getLogger(__name__)

CONNECT_TIMEOUT = 15.0
MAX_SAY_CHARS = 1000
REJOIN_DELAYS = (1.0, 5.0, 15.0)  # seconds before each attempt to rejoin after a dropped connection
MAX_WAKE_WORD = 40
_WAKE_WORD = re.compile(r"[^\W\d_]+(?:[ '-][^\W\d_]+){0,2}")
ADDRESSING = {"always": "every turn", "name": "only turns that name me", "wake": "only turns that start with the wake word"}


class Voice(commands.Cog):
    def __init__(self, bot: Bot) -> None:
        self.bot = bot
        s = bot.settings
        self.store = bot.services.voice_settings
        self.optouts = bot.services.voice_optouts
        self.endpoint = EndpointConfig(silence_ms=s.voice_silence_ms, max_utterance_s=s.voice_max_utterance_s,
                                       vad=s.voice_vad, candidate_ms=s.voice_candidate_ms or None)
        self.sessions: dict[int, GuildVoiceSession] = {}
        self._join_locks: defaultdict[int, asyncio.Lock] = defaultdict(asyncio.Lock)  # one per server
        self._rejoining: set[asyncio.Task[None]] = set()

    async def cog_unload(self) -> None:
        for task in list(self._rejoining):
            task.cancel()
        await asyncio.gather(*self._rejoining, return_exceptions=True)
        for guild_id in list(self.sessions):
            await self._end(guild_id)

    # --- commands -----------------------------------------------------------------------------------

    @app_commands.command(name="join", description="Join your voice channel and talk with you there")
    @app_commands.guild_only()
    async def join(self, interaction: discord.Interaction) -> None:
        member = interaction.user
        voice = getattr(member, "voice", None)
        if voice is None or voice.channel is None or not isinstance(member, discord.Member):
            await reply(interaction, "Join a voice channel first, then use /join.", ephemeral=True)
            return
        assert interaction.guild is not None
        session = self.sessions.get(interaction.guild.id)
        if (session is not None and session.vc.is_connected() and session.vc.channel.id != voice.channel.id
                and session.consent.members() and not controls_voice(member, session.vc.channel)):
            await reply(interaction, f"I'm in **{session.vc.channel.name}** with people talking to me; only someone "
                                     "there (or with Move Members) can move me.", ephemeral=True)
            return
        await interaction.response.defer(thinking=True)
        async with self._join_locks[interaction.guild.id]:
            session = self.sessions.get(interaction.guild.id)
            try:
                if session is None or not session.vc.is_connected() or session.vc.channel.id != voice.channel.id:
                    # Moving is leaving and joining again (discord.py's move_to is unreliable across voice
                    # servers): a new session, whose call is told that the bot listens.
                    if session is not None:
                        await self._end(interaction.guild.id)
                    await self._start(interaction.guild, voice.channel)
            except (TimeoutError, discord.ClientException, discord.HTTPException) as exc:
                log.warning("Could not join voice channel %s: %s", voice.channel.id, exc)
                await reply(interaction, "I couldn't connect to that voice channel. Try again in a moment.")
                return
        session = self.sessions[interaction.guild.id]
        log.info("/join by %s (%d) in guild %d: voice channel %d", member, member.id, interaction.guild.id,
                 voice.channel.id)
        if session.listening:
            listening = ("I'm listening, and said so in the call's chat; `/voice-optout` for anyone who'd rather not "
                         "be heard")
        else:
            listening = "I'm not listening"
        await reply(interaction, f"Joined **{voice.channel.name}**. {listening}; use /leave to send me away.")

    @app_commands.command(name="leave", description="Leave the voice channel")
    @app_commands.guild_only()
    async def leave(self, interaction: discord.Interaction) -> None:
        assert interaction.guild is not None
        session = self.sessions.get(interaction.guild.id)
        if session is None:
            await reply(interaction, "I'm not in a voice channel.", ephemeral=True)
            return
        if not isinstance(interaction.user, discord.Member) or not controls_voice(interaction.user, session.vc.channel):
            await reply(interaction, f"Only someone in **{session.vc.channel.name}** with me (or with Move Members) "
                                     "can send me away.", ephemeral=True)
            return
        await interaction.response.defer(thinking=True)
        log.info("/leave by %s (%d) in guild %d", interaction.user, interaction.user.id, interaction.guild.id)
        await self._end(interaction.guild.id)
        await reply(interaction, "Left the voice channel.")

    @app_commands.command(name="say", description="Say something in the voice channel")
    @app_commands.describe(text="What to say (queued behind what is already playing)")
    @app_commands.guild_only()
    async def say(self, interaction: discord.Interaction, text: app_commands.Range[str, 1, MAX_SAY_CHARS]) -> None:
        assert interaction.guild is not None
        session = self.sessions.get(interaction.guild.id)
        if session is None:
            await reply(interaction, "I'm not in a voice channel: use /join first.", ephemeral=True)
            return
        member = interaction.user
        if not isinstance(member, discord.Member) or not controls_voice(member, session.vc.channel):
            await reply(interaction, f"Only someone in **{session.vc.channel.name}** with me (or with Move Members) "
                                     "can make me speak there.", ephemeral=True)
            return
        if (refusal := await self.bot.services.limits.admit(interaction.user.id, interaction.guild.id)) is not None:
            await reply(interaction, refusal, ephemeral=True)
            return
        await interaction.response.defer(thinking=True, ephemeral=True)
        log.info("/say by %s (%d) in guild %d: %r", member, member.id, interaction.guild.id, text[:200])
        # Everyone in the call can see who made the bot say it (named, not pinged).
        await session.post(f"🔊 asked by {member.mention}: {inert(text)}")
        try:
            await session.conversation.say(text, session.settings)
        except ServiceError as exc:
            await reply(interaction, describe_failure(exc, "Text-to-speech"), ephemeral=True)
            return
        except BargedIn:
            await reply(interaction, "🔇 Stopped: someone spoke over me.", ephemeral=True)
            return
        await reply(interaction, "🔊 Saying it.", ephemeral=True)

    @app_commands.command(name="voice-optout", description="Never be heard by the bot in voice (in every server)")
    async def voice_optout(self, interaction: discord.Interaction) -> None:
        await self._set_optout(interaction, True)

    @app_commands.command(name="voice-optin", description="Let the bot hear you in voice again")
    async def voice_optin(self, interaction: discord.Interaction) -> None:
        await self._set_optout(interaction, False)

    async def _set_optout(self, interaction: discord.Interaction, opted_out: bool) -> None:
        user_id = interaction.user.id
        changed = await self.optouts.set(user_id, opted_out=opted_out)
        for session in list(self.sessions.values()):
            await session.consent.set_opted_out(user_id, opted_out)
        log.info("Voice opt-%s by %d%s", "out" if opted_out else "in", user_id, "" if changed else " (no change)")
        if opted_out:
            text = ("Done: I won't hear you in any voice call, in any server. Your audio is dropped before it is "
                    "decoded, so nothing you say is transcribed or kept. `/voice-optin` undoes it.")
        else:
            text = "Done: I hear you again in voice calls where I listen. `/voice-optout` stops it."
        await reply(interaction, text if changed else f"Already so. {text}", ephemeral=True)

    @app_commands.command(name="voice", description="Voice settings for this server (no options: show them)")
    @app_commands.describe(voice="TTS voice (e.g. af_heart, or a mix af_bella+af_sky)", speed="Speaking speed",
                           rvc="Convert the voice with RVC", listen="Listen and answer speech",
                           text_channel="Channel for transcripts, used while everyone in the call can read it",
                           address="Which turns to answer: always, only when named, or only after the wake word",
                           wake_word="A word the bot also answers to (e.g. Jarvis); '-' removes it",
                           memory="shared: the call continues the text chat it writes in; separate: its own")
    @app_commands.choices(address=[app_commands.Choice(name=m, value=m) for m in ADDRESS_MODES],
                          memory=[app_commands.Choice(name=m, value=m) for m in MEMORY_CHOICES])
    @app_commands.guild_only()
    @app_commands.default_permissions(manage_guild=True)
    async def voice_settings(self, interaction: discord.Interaction, voice: str | None = None,
                             speed: app_commands.Range[float, 0.25, 4.0] | None = None, rvc: bool | None = None,
                             listen: bool | None = None, text_channel: discord.TextChannel | None = None,
                             address: str | None = None,
                             wake_word: app_commands.Range[str, 1, MAX_WAKE_WORD] | None = None,
                             memory: str | None = None) -> None:
        assert interaction.guild is not None
        if not (interaction.permissions.manage_guild or interaction.user.id in self.bot.settings.bot_owner_ids):
            # default_permissions only hides the command; a server may override that default.
            await reply(interaction, "Only members with Manage Server can change the voice settings.", ephemeral=True)
            return
        changes: dict[str, object] = {k: v for k, v in
                                      {"voice": voice, "speed": speed, "rvc": rvc, "listen": listen,
                                       "address": address, "memory": memory}.items()
                                      if v is not None}
        if text_channel is not None:
            changes["text_channel_id"] = text_channel.id
        if rvc and self.bot.services.rvc is None:
            await reply(interaction, "RVC is not configured on this bot (RVC_API_URL).", ephemeral=True)
            return
        if wake_word is not None:
            word = " ".join(wake_word.split())
            if word != "-" and not _WAKE_WORD.fullmatch(word):
                await reply(interaction, "A wake word is one to three words of letters (e.g. `Jarvis` or "
                                         "`hey computer`); `-` removes it.", ephemeral=True)
                return
            changes["wake_word"] = "" if word == "-" else word
        current = await self.store.get(interaction.guild.id)
        if (changes.get("address", current.address) == "wake"
                and not changes.get("wake_word", current.wake_word)):
            await reply(interaction, "Set a wake word first (`/voice wake_word:Jarvis`), then `address:wake`.",
                        ephemeral=True)
            return
        if changes:
            current = await self.store.update(interaction.guild.id, **changes)
            session = self.sessions.get(interaction.guild.id)
            if session is not None:
                session.apply(current)
                await session.consent.reconcile()  # listening switched on: the call is told first
        await reply(interaction, render_settings(current, changed=bool(changes)), ephemeral=True)

    # --- events -----------------------------------------------------------------------------------------

    @commands.Cog.listener()
    async def on_voice_state_update(self, member: discord.Member, before: discord.VoiceState,
                                    after: discord.VoiceState) -> None:
        session = self.sessions.get(member.guild.id)
        if session is None:
            return
        if self.bot.user is not None and member.id == self.bot.user.id and after.channel is None:
            return  # also sent while discord.py reconnects: ReceivingVoiceClient.on_gone says when it is over
        session.check_alone()  # someone came or went, or the bot was moved
        await session.consent.reconcile()  # a newcomer is told before they are heard; who left is not heard

    def _voice_gone(self, guild_id: int, vc: ReceivingVoiceClient) -> None:
        """discord.py is done with `vc`; unless we ended the session ourselves, recover from it."""
        session = self.sessions.get(guild_id)
        if session is None or session.vc is not vc:
            return  # /leave, the idle timeout or a restart of the session
        task = asyncio.create_task(self._recover(guild_id, session, vc), name=f"voice-rejoin-{guild_id}")
        self._rejoining.add(task)
        task.add_done_callback(self._rejoining.discard)

    async def _recover(self, guild_id: int, session: GuildVoiceSession, vc: ReceivingVoiceClient) -> None:
        channel = vc.channel
        await self._end(guild_id)
        if vc.removed_by_discord:
            log.info("Removed from voice channel %s in guild %s; not rejoining", channel.id, guild_id)
            await session.post(f"I was disconnected from **{channel.name}**; use /join to call me back.")
            return
        log.warning("Lost the voice connection in guild %s and discord.py gave up; rejoining", guild_id)
        for attempt, delay in enumerate(REJOIN_DELAYS, start=1):
            await asyncio.sleep(delay)
            if not any(not m.bot for m in getattr(channel, "members", [])):
                log.info("Not rejoining voice channel %s: nobody is left in it", channel.id)
                return
            async with self._join_locks[guild_id]:
                if guild_id in self.sessions:
                    return  # someone used /join meanwhile
                try:
                    await self._start(channel.guild, channel)
                except (TimeoutError, discord.ClientException, discord.HTTPException) as exc:
                    log.warning("Rejoining voice channel %s failed (attempt %d of %d): %s",
                                channel.id, attempt, len(REJOIN_DELAYS), exc)
                    continue
            log.info("Rejoined voice channel %s after a dropped connection", channel.id)
            return
        await session.post(f"I lost the voice connection to **{channel.name}** and could not rejoin; "
                           "use /join to try again.")

    # --- sessions -----------------------------------------------------------------------------------------

    async def _start(self, guild: discord.Guild, channel: discord.abc.Connectable) -> None:
        vc = await channel.connect(cls=ReceivingVoiceClient, timeout=CONNECT_TIMEOUT, reconnect=True)
        assert isinstance(vc, ReceivingVoiceClient)
        vc.on_gone = lambda gone: self._voice_gone(guild.id, gone)
        gs = await self.store.get(guild.id)
        s, services = self.bot.settings, self.bot.services

        def conversation(queue: PcmQueue, output: GuildVoiceSession) -> VoiceConversation:
            return VoiceConversation(llm=services.llm, tts=services.tts, stt=services.stt, rvc=services.rvc,
                                     context=services.voice_context, queue=queue, output=output,
                                     max_tokens=s.llm_max_tokens, limits=services.limits, guild_id=guild.id)

        def consent(session: GuildVoiceSession) -> Consent:
            return Consent(session, self.optouts, speaks=services.tts is not None, listening=lambda: session.listening)

        session = GuildVoiceSession(vc, conversation_factory=conversation, consent_factory=consent, settings=gs,
                                    endpoint=self.endpoint, barge_in=s.voice_barge_in,
                                    idle_timeout=s.voice_idle_timeout, on_idle=lambda: self._end(guild.id))
        self.sessions[guild.id] = session
        await session.start()

    async def _end(self, guild_id: int) -> None:
        session = self.sessions.pop(guild_id, None)
        if session is not None:
            await session.close()


def render_settings(s: GuildVoiceSettings, *, changed: bool) -> str:
    channel = (f"<#{s.text_channel_id}> while everyone in the call can read it, else the call's own chat"
               if s.text_channel_id else "the call's own text chat")
    head = "Voice settings saved:" if changed else "Voice settings:"
    wake = f"`{s.wake_word}`" if s.wake_word else "none"
    memory = "shared with the text chat the call writes in" if s.memory == "shared" else "separate from text chat"
    return (f"{head}\n• voice: `{s.voice}`\n• speed: {s.speed:g}\n• RVC: {'on' if s.rvc else 'off'}\n"
            f"• listening: {'on' if s.listen else 'off'}\n• transcripts and fallbacks: {channel}\n"
            f"• answers: {s.address} ({ADDRESSING.get(s.address, s.address)})\n• wake word: {wake}\n"
            f"• memory: {memory}")


async def setup(bot: Bot) -> None:
    await bot.add_cog(Voice(bot))
