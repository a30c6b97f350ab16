"""One guild's live voice session: the connection, its playback queue, per-member turn-taking
(services/voice/turns.py: endpointing and speculative transcription), the conversation, keep-alive
silence and the alone-timer. The cog creates one per /join.

Who is heard is decided by the session's Consent (cogs/voice/consent.py); where it writes, by
`output_channel`: the call's own text chat, or the linked channel only while everyone in the call
can read it. Received audio lives only in the turn-taker, for the utterance being heard (and its
speculative transcription); a member no longer heard is forgotten there at once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

import discord

from cogs.voice.consent import Consent
from cogs.voice.receive import ReceivingVoiceClient
from discord_ui.escape import without_invites
from discord_ui.permissions import everyone_can_read
from discord_ui.ui import NO_MENTIONS
from services.chat.memory import MessageRef
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
                 consent_factory: Callable[[GuildVoiceSession], Consent], settings: GuildVoiceSettings,
                 endpoint: EndpointConfig, barge_in: bool, idle_timeout: float,
                 on_idle: Callable[[], Awaitable[None]]) -> None:
        self.vc = vc
        self.loop = asyncio.get_running_loop()
        self.queue = PcmQueue(self.loop)
        self.settings = settings
        self.endpoint = endpoint
        self.barge_in_enabled = barge_in
        self.idle_timeout = idle_timeout
        self._on_idle = on_idle
        self.conversation = conversation_factory(self.queue, self)
        self.consent = consent_factory(self)
        speculate = self.conversation.stt is not None and endpoint.candidate_ms is not None
        self.turns = TurnTaker(endpoint, on_turn=self._heard,
                               transcribe=self.conversation.transcribe if speculate else None)
        self._tasks: set[asyncio.Task[object]] = set()
        self._poller: asyncio.Task[None] | None = None
        self._idle_timer: asyncio.TimerHandle | None = None
        self._idle_task: asyncio.Task[None] | None = None
        self.barge_ins = 0
        self.closed = False
        self._linked_refused: int | None = None  # linked channel last found unreadable (logged once)

    @property
    def guild(self) -> discord.Guild:
        return self.vc.guild

    @property
    def listening(self) -> bool:
        return self.settings.listen and self.conversation.stt is not None

    async def start(self) -> None:
        self.apply(self.settings)
        self._poller = asyncio.create_task(self._poll(), name=f"voice-poll-{self.guild.id}")
        self.check_alone()
        await self.consent.reconcile()

    def track(self, task: asyncio.Task[object]) -> None:
        self._tasks.add(task)
        task.add_done_callback(self._turn_done)

    def apply(self, settings: GuildVoiceSettings) -> None:
        """New settings; the caller then awaits consent.reconcile() (listening switched on must be announced)."""
        self.settings = settings
        if self.listening:
            self.vc.listen(self.on_audio)
        else:
            self.vc.stop_listening()
            self.vc.audible = frozenset()
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

    def output_channel(self) -> discord.abc.Messageable:
        """The call's own text chat, or the linked channel (/voice text_channel) while everyone in the call
        can read it: transcripts never go where someone in the call cannot see them."""
        voice = self.vc.channel
        linked_id = self.settings.text_channel_id
        if linked_id:
            linked = self.guild.get_channel_or_thread(linked_id)
            if linked is not None and everyone_can_read(self.consent.members(), linked):
                return linked  # type: ignore[return-value]
            if self._linked_refused != linked_id:
                self._linked_refused = linked_id
                log.info("Linked channel %s in guild %s is not readable by everyone in the call; writing in the "
                         "call's own chat", linked_id, self.guild.id)
        return voice  # type: ignore[return-value]  # voice channels have a text chat

    async def post(self, text: str, *, ping: list[int] | None = None) -> MessageRef | None:
        """Post in output_channel(); the first message sent, if any. Only `ping` (member ids) is mentioned."""
        channel = self.output_channel()
        mentions = (discord.AllowedMentions(everyone=False, roles=False, users=[discord.Object(u) for u in ping])
                    if ping else NO_MENTIONS)
        first: MessageRef | None = None
        try:
            for chunk in render_chunks(without_invites(text)):
                message = await channel.send(chunk, allowed_mentions=mentions)
                first = first or MessageRef(message.channel.id, message.id)
        except discord.HTTPException as exc:
            log.warning("Could not post in the voice chat of guild %s (channel %s): %s", self.guild.id,
                        getattr(channel, "id", "?"), exc)
        return first

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
        if self.closed or (member is not None and member.bot) or user_id not in self.vc.audible:
            return  # decoded just before the member opted out or left: dropped with what was buffered
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

    def memory_scope(self) -> int:
        """Where the call's turns are kept (/voice memory): the text chat it writes in, or its own."""
        chat = getattr(self.output_channel(), "id", self.vc.channel.id)
        return voice_memory_scope(call_id=self.vc.channel.id, chat_id=chat, memory=self.settings.memory)

    def forget_speakers(self, keep: frozenset[int] | set[int]) -> None:
        """Drop the buffered audio and speculative transcriptions of everyone not in `keep` (they opted
        out or left mid-sentence)."""
        for user_id in [u for u in self.turns.members if u not in keep]:
            self.turns.forget(user_id)

    def _heard(self, turn: HeardTurn) -> None:
        """Hand the turn to the conversation; nothing here keeps it once the turn has transcribed it."""
        utterance: Utterance = turn.utterance
        user_id = turn.user_id
        if user_id not in self.vc.audible:
            if turn.transcript is not None:
                turn.transcript.cancel()
            return
        member = self.guild.get_member(user_id)
        speaker = Speaker(user_id, member.display_name if member is not None else f"user {user_id}")
        task = asyncio.create_task(self.conversation.hear(utterance, speaker, self.memory_scope(), self.settings,
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
