"""One guild's live voice session: the connection, its playback queue, per-member turn-taking
(services/voice/turns.py: endpointing and speculative transcription), the conversation, keep-alive
silence and the alone-timer. The cog creates one per /join."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

import discord

from cogs.voice.receive import ReceivingVoiceClient
from discord_ui.ui import NO_MENTIONS
from services.chat.splitter import render_chunks
from services.voice import (
    EndpointConfig,
    GuildVoiceSettings,
    PcmQueue,
    Speaker,
    Utterance,
    VoiceConversation,
)
from services.voice.addressing import Addressing
from services.voice.memory import voice_memory_scope
from services.voice.turns import HeardTurn, TurnTaker

log = logging.getLogger(__name__)

POLL_INTERVAL = 0.02  # how often silence is checked for members who stopped sending packets
KEEPALIVE_INTERVAL = 20.0  # Discord drops a UDP route after about a minute without outbound packets


class QueueSource(discord.AudioSource):
    """Feeds the player from the PcmQueue; returns b"" (ending playback) once the queue is drained."""

    def __init__(self, queue: PcmQueue) -> None:
        self.queue = queue

    def read(self) -> bytes:
        return self.queue.read()

    def is_opus(self) -> bool:
        return False


class GuildVoiceSession:
    def __init__(self, vc: ReceivingVoiceClient, *, conversation_factory: Callable[[PcmQueue, GuildVoiceSession], VoiceConversation],
                 settings: GuildVoiceSettings, text_channel_id: int | None, endpoint: EndpointConfig,
                 barge_in: bool, idle_timeout: float, on_idle: Callable[[], Awaitable[None]]) -> None:
        self.vc = vc
        self.loop = asyncio.get_running_loop()
        self.queue = PcmQueue(self.loop)
        self.settings = settings
        self.fallback_channel_id = text_channel_id
        self.endpoint = endpoint
        self.barge_in_enabled = barge_in
        self.idle_timeout = idle_timeout
        self._on_idle = on_idle
        self.conversation = conversation_factory(self.queue, self)
        speculate = self.conversation.stt is not None and endpoint.candidate_ms is not None
        self.turns = TurnTaker(endpoint, on_turn=self._heard,
                               transcribe=self.conversation.transcribe if speculate else None)
        self._tasks: set[asyncio.Task[object]] = set()
        self._poller: asyncio.Task[None] | None = None
        self._idle_timer: asyncio.TimerHandle | None = None
        self._idle_task: asyncio.Task[None] | None = None
        self.barge_ins = 0
        self.closed = False
        self.utterances: list[Utterance] = []

    @property
    def guild(self) -> discord.Guild:
        return self.vc.guild

    @property
    def text_channel_id(self) -> int | None:
        return self.settings.text_channel_id or self.fallback_channel_id

    def start(self) -> None:
        self.apply(self.settings)
        self._poller = asyncio.create_task(self._poll(), name=f"voice-poll-{self.guild.id}")
        self.check_alone()

    def apply(self, settings: GuildVoiceSettings) -> None:
        self.settings = settings
        if settings.listen:
            self.vc.listen(self.on_audio)
        else:
            self.vc.stop_listening()
            self.turns.close()

    async def close(self) -> None:
        self.closed = True
        if self._idle_timer is not None:
            self._idle_timer.cancel()
        self.vc.stop_listening()
        self.turns.close()
        self.conversation.barge_in()
        tasks = [t for t in (self._poller, *self._tasks) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self.vc.is_connected():
            await self.vc.disconnect(force=True)

    # --- Output for the conversation ------------------------------------------------------------

    async def post(self, text: str) -> None:
        channel_id = self.text_channel_id
        channel = self.guild.get_channel(channel_id) if channel_id else None
        if not isinstance(channel, discord.abc.Messageable):
            log.info("No text channel linked to voice in guild %s; dropped: %s", self.guild.id, text[:80])
            return
        try:
            for chunk in render_chunks(text):
                await channel.send(chunk, allowed_mentions=NO_MENTIONS)
        except discord.HTTPException as exc:
            log.warning("Could not post to the linked text channel %s: %s", channel_id, exc)

    def start_playback(self) -> None:
        if self.vc.is_connected() and not self.vc.is_playing():
            self.vc.play(QueueSource(self.queue), after=self._after_play, application="voip",
                         signal_type="voice")

    def _after_play(self, error: Exception | None) -> None:
        if error is not None:
            log.warning("Voice playback stopped with an error: %s", error)
        if not self.loop.is_closed():  # the player thread can outlive the loop at shutdown
            self.loop.call_soon_threadsafe(self._restart_if_pending)

    def _restart_if_pending(self) -> None:
        """The player ended while more audio arrived (a race with the reader thread): go on playing."""
        if self.queue.pending_bytes:
            self.start_playback()

    # --- hearing ----------------------------------------------------------------------------------

    def on_audio(self, user_id: int, pcm: bytes, at: float) -> None:
        member = self.guild.get_member(user_id)
        if self.closed or (member is not None and member.bot):
            return
        started = self.turns.feed(user_id, pcm, at)
        if not started:
            return
        self.conversation.warm()
        # In name and wake modes, talk between members must not stop the bot: an addressed turn does.
        if self.barge_in_enabled and self.settings.address == "always" and self.conversation.talking:
            self.barge_ins += 1
            log.info("Barge-in by %s in guild %s: stopping playback", user_id, self.guild.id)
            self.conversation.barge_in()
            self.vc.stop()

    async def _poll(self) -> None:
        next_keepalive = time.perf_counter() + KEEPALIVE_INTERVAL
        while True:
            await asyncio.sleep(POLL_INTERVAL)
            now = time.perf_counter()
            self.vc.drain_jitter(now)
            self.turns.poll(now)
            if now >= next_keepalive:
                next_keepalive = now + KEEPALIVE_INTERVAL
                if self.settings.listen:
                    self.vc.send_keepalive()

    def addressing(self) -> Addressing:
        """The server's addressing rule, with the names the bot answers to here."""
        me = self.guild.me
        names = tuple(dict.fromkeys(n for n in (getattr(me, "display_name", ""), getattr(me, "name", "")) if n))
        return Addressing(self.settings.address, names, self.settings.wake_word)

    def _heard(self, turn: HeardTurn) -> None:
        utterance: Utterance = turn.utterance
        self.utterances.append(utterance)
        user_id = turn.user_id
        member = self.guild.get_member(user_id)
        speaker = Speaker(user_id, member.display_name if member is not None else f"user {user_id}")
        scope = voice_memory_scope(self.vc.channel.id, self.settings.memory)
        task = asyncio.create_task(self.conversation.hear(utterance, speaker, scope, self.settings,
                                                          transcript=turn.transcript, addressing=self.addressing(),
                                                          barge_in=self.barge_in_enabled),
                                   name=f"voice-turn-{self.guild.id}")
        self._tasks.add(task)
        task.add_done_callback(self._turn_done)

    def _turn_done(self, task: asyncio.Task[object]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("Voice turn failed in guild %s", self.guild.id, exc_info=task.exception())

    # --- alone timer ------------------------------------------------------------------------------

    def check_alone(self) -> None:
        """Start the leave timer when no human is left in the channel; stop it when one comes back."""
        channel = self.vc.channel
        humans = [uid for uid in getattr(channel, "voice_states", {})
                  if uid != self.vc.user.id and not getattr(self.guild.get_member(uid), "bot", False)]
        if humans:
            if self._idle_timer is not None:
                self._idle_timer.cancel()
                self._idle_timer = None
        elif self._idle_timer is None:
            log.info("Alone in voice in guild %s; leaving in %.0f s", self.guild.id, self.idle_timeout)
            self._idle_timer = self.loop.call_later(self.idle_timeout, self._leave_idle)

    def _leave_idle(self) -> None:
        self._idle_task = asyncio.create_task(self._on_idle(), name=f"voice-idle-leave-{self.guild.id}")
