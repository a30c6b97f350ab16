"""One voice channel's conversation: heard speech -> STT -> streamed LLM -> sentences -> TTS -> queue.

Discord-free: the cog hands in utterances (with their speculative transcription when turn-taking
started one, services/voice/turns.py) and an `Output` (post text in the linked channel, start the
player). Latency comes from overlapping the stages: the first piece of the answer is cut from the
token stream at its first clause, later ones sentence by sentence; each is synthesized as soon as
it exists and its PCM is queued while it is still being produced, so the answer plays before the
model has finished and the next piece is synthesized while the current one plays. The request is
built by the same ContextBuilder as chat (with a voice suffix), so the system prompt and memory
rules are one. Turns not addressed to the bot (per the server's addressing) are ignored; answers
are given one at a time, members served in turn (FairTurns). Barge-in stops the turn (`BargedIn`),
empties the queue and stores what had been said as an interrupted answer. Failures degrade to
text (TTS), one notice (STT), or an apology (LLM).
A voice turn is a costly command like any other: the speaker's rate limit and token quota apply
(services/limits) to each turn meant for the bot (in name and wake modes, talk between members is
not charged), and a refusal is said once in the call's text channel.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from contextlib import aclosing
from typing import Protocol

from services.chat.context import ContextBuilder, Prompt
from services.chat.memory import MessageRef
from services.errors import ServiceDisabled, ServiceError
from services.limits import LimitReached, MemberLimits, Requester
from services.llm import ChatResult, LLMRouter, Message, TextDelta
from services.speech import STT, TTS, AudioClip, Transcript, VoiceConverter
from services.speech.audio import StreamConverter, to_discord
from services.voice.addressing import Addressing
from services.voice.endpoint import RATE, Utterance
from services.voice.fair import FairTurns
from services.voice.memory import voice_memory
from services.voice.playback import PcmQueue
from services.voice.results import BargedIn, Speaker, TurnResult, TurnTimings
from services.voice.sentences import SentenceCutter
from services.voice.settings_store import GuildVoiceSettings

log = logging.getLogger(__name__)

__all__ = ["ALWAYS", "LLM_APOLOGY", "STT_UNAVAILABLE", "BargedIn", "Output", "Speaker", "TurnResult", "TurnTimings",
           "VoiceConversation"]

STT_UNAVAILABLE = "Voice input is unavailable right now (speech recognition is down); type to me instead."
LLM_APOLOGY = "Sorry, I can't answer right now: my language model is unavailable."
FIRST_CLAUSE_WORDS = 4  # the first spoken piece may end at a comma once it has this many words
ALWAYS = Addressing()
REFUSAL_REPEAT = 60.0  # seconds before the same member is told again that they are over a limit


class Output(Protocol):
    """What the conversation needs from Discord."""

    async def post(self, text: str) -> MessageRef | None:
        """Send text to the call's text channel (transcripts and fallbacks); the message, if one was sent."""

    def start_playback(self) -> None:
        """Make sure the player is reading the queue."""


class VoiceConversation:
    """The conversation in one guild's voice channel; one turn at a time."""

    def __init__(self, *, llm: LLMRouter, tts: TTS | None, stt: STT | None, rvc: VoiceConverter | None,
                 context: ContextBuilder, queue: PcmQueue, output: Output, max_tokens: int | None = None,
                 first_clause_words: int = FIRST_CLAUSE_WORDS, limits: MemberLimits | None = None,
                 guild_id: int | None = None, clock: Callable[[], float] = time.perf_counter) -> None:
        self.llm, self.tts, self.stt, self.rvc = llm, tts, stt, rvc
        self.limits = limits
        self.guild_id = guild_id
        self._told: dict[int, float] = {}  # member -> when they were last told about a limit
        self.context = context
        self.queue = queue
        self.output = output
        self.max_tokens = max_tokens
        self.first_clause_words = first_clause_words
        self._clock = clock
        self._turns = FairTurns()
        self._warming: set[asyncio.Task[bool]] = set()
        self._voice_lock = asyncio.Lock()  # one producer of audio at a time: /say waits for the answer, and back
        self._interrupt: asyncio.Event | None = None  # set by barge_in() while an answer is in progress
        self._stt_notice_sent = False
        self.last_result: TurnResult | None = None

    # --- entry points -----------------------------------------------------------------------------

    async def transcribe(self, utterance: Utterance) -> Transcript:
        """What was said in `utterance` (turn-taking calls this speculatively, on a candidate end)."""
        if self.stt is None:
            raise ServiceDisabled("stt:whisper", "WHISPER_API_URL is empty")
        return await self.stt.transcribe(AudioClip(utterance.pcm, RATE, 2))

    def warm(self) -> None:
        """A member started talking: open the connections the turn will need (STT now, TTS soon)."""
        for service in (self.stt, self.tts):
            if service is not None:
                task = asyncio.ensure_future(service.warm())
                self._warming.add(task)
                task.add_done_callback(self._warming.discard)

    async def hear(self, utterance: Utterance, speaker: Speaker, scope_id: int, settings: GuildVoiceSettings, *,
                   transcript: Awaitable[Transcript] | None = None, addressing: Addressing = ALWAYS,
                   barge_in: bool = False) -> TurnResult:
        """A member finished an utterance: transcribe it (or take the speculative transcription), then
        answer it if it was meant for the bot. With `barge_in`, an addressed turn in a name or wake
        mode stops what the bot is saying (in `always` mode, speech itself does, as soon as it starts)."""
        timings = TurnTimings(speech_end=utterance.speech_end_at, heard=utterance.ended_at)
        # In `always` mode every turn is for the bot: a member over their limits is not even transcribed.
        if addressing.mode == "always" and not await self._admitted(speaker):
            if isinstance(transcript, asyncio.Future):
                transcript.cancel()  # a speculative transcription still running is not needed
            return TurnResult(status="ignored", timings=timings)
        if self.stt is None:
            return await self._stt_down(timings, "no STT server is configured")
        try:
            heard = await (transcript if transcript is not None else self.transcribe(utterance))
        except ServiceError as exc:
            return await self._stt_down(timings, str(exc))
        timings.transcribed = self._clock()
        self._stt_notice_sent = False
        if not heard:
            log.debug("Nothing usable heard from %s (%s)", speaker.name, heard.dropped)
            return TurnResult(status="ignored", timings=timings)
        if not addressing.addresses_bot(heard.text):
            log.debug("Not addressed to the bot (%s mode); ignored a turn of %s", addressing.mode, speaker.name)
            return TurnResult(transcript=heard.text, status="unaddressed", timings=timings)
        if addressing.mode != "always" and not await self._admitted(speaker):
            return TurnResult(status="ignored", timings=timings)
        if barge_in and addressing.mode != "always" and self.talking:
            log.info("Barge-in by %s, who addressed the bot", speaker.name)
            self.barge_in()
        posted = await self.output.post(f"🎙️ **{speaker.name}:** {heard.text}")
        # The transcript is the member's words kept by the bot: linked, so deleting it or /forget-me erases them.
        sources = (MessageRef(posted.channel_id, posted.message_id, speaker.user_id),) if posted else ()
        return await self.answer(heard.text, speaker, scope_id, settings, timings=timings, sources=sources)

    async def answer(self, text: str, speaker: Speaker, scope_id: int, settings: GuildVoiceSettings, *,
                     timings: TurnTimings | None = None, sources: tuple[MessageRef, ...] = ()) -> TurnResult:
        """Answer `text` aloud (or in writing when TTS is down); returns when the turn is over.

        One answer at a time; waiting turns are served member by member in turn (FairTurns)."""
        async with self._turns.turn(speaker.user_id):
            self._interrupt = asyncio.Event()
            try:
                result = await self._answer(Prompt(text, speaker.name, speaker.user_id, sources), scope_id, settings,
                                            timings or TurnTimings(), self._interrupt)
            finally:
                self._interrupt = None
            self.last_result = result
            return result

    async def say(self, text: str, settings: GuildVoiceSettings) -> None:
        """/say: speak `text` behind whatever is queued.

        Raises ServiceError when TTS fails, BargedIn when a member spoke over it before it was queued.
        """
        if self.tts is None:
            raise ServiceDisabled("tts:kokoro", "KOKORO_API_URL is empty")
        async with self._voice_lock:
            generation = self.queue.open_segment()
            try:
                await self._speak(text, settings, generation, [])
            finally:
                self.queue.close_segment(generation)

    def barge_in(self) -> bool:
        """A member started talking over the bot: stop the answer and the audio. True if anything stopped."""
        stopped = self.queue.clear() > 0
        if self._interrupt is not None and not self._interrupt.is_set():
            self._interrupt.set()
            stopped = True
        return stopped

    @property
    def talking(self) -> bool:
        return self.queue.busy or self._interrupt is not None

    # --- the turn ---------------------------------------------------------------------------------

    async def _answer(self, prompt: Prompt, scope_id: int, settings: GuildVoiceSettings,
                      timings: TurnTimings, interrupt: asyncio.Event) -> TurnResult:
        result = TurnResult(transcript=prompt.content, timings=timings)
        context = voice_memory(self.context, settings.memory)  # the call's own memory, or the text chat's
        messages = await context.build(scope_id, prompt)
        exchange = await context.remember_prompt(scope_id, prompt)
        sentences: asyncio.Queue[str | None] = asyncio.Queue()
        parts: list[str] = []
        speaking = asyncio.ensure_future(self._speak_sentences(sentences, settings, result))
        requester = Requester(prompt.author_id, self.guild_id)
        try:
            await _unless_interrupted(self._write(messages, sentences, parts, timings, speaking, requester), interrupt)
        except (BargedIn, asyncio.CancelledError) as exc:
            # Barge-in, or the session closing (a real cancellation, re-raised once recorded).
            await _stop(speaking)
            self.queue.clear()
            result.status = "interrupted"
            result.answer = "".join(parts)
            said = " ".join(result.spoken) or result.answer
            if said.strip():
                await asyncio.shield(context.remember_answer(scope_id, said, "interrupted", exchange_id=exchange))
                await asyncio.shield(self._post_answer(context, exchange, f"🔊 {said} … *(interrupted)*"))
            log.info("Voice answer interrupted after %d sentence(s)", len(result.spoken))
            if isinstance(exc, asyncio.CancelledError):
                raise
            return result
        except LimitReached as exc:
            await _stop(speaking)
            result.status = "failed"
            await self._refuse(Speaker(prompt.author_id, prompt.author_name), exc.message)
            return result
        except ServiceError as exc:
            await _stop(speaking)
            log.warning("Voice answer failed: the LLM is unavailable: %s", exc)
            result.status, result.degraded = "failed", "llm"
            result.answer = "".join(parts)
            await self._apologize(settings)
            return result
        result.answer = "".join(parts).strip()
        await context.remember_answer(scope_id, result.answer, exchange_id=exchange)
        if result.degraded == "tts" and result.answer:
            await self._post_answer(context, exchange, result.answer)
        elif result.spoken:
            await self._post_answer(context, exchange, f"🔊 {result.answer}")
        timings.first_audio = timings.first_audio or self.queue.first_frame_at
        return result

    async def _post_answer(self, context: ContextBuilder, exchange_id: int, text: str) -> None:
        posted = await self.output.post(text)
        if posted is not None:
            await context.link(exchange_id, [posted])

    async def _write(self, messages: list[Message], sentences: asyncio.Queue[str | None], parts: list[str],
                     timings: TurnTimings, speaking: asyncio.Future[None], requester: Requester) -> None:
        """Stream the model's answer into `parts` and, sentence by sentence, to the speaker task."""
        cutter = SentenceCutter(first_clause_words=self.first_clause_words)
        timings.llm_started = self._clock()
        async with aclosing(self.llm.stream(messages, max_tokens=self.max_tokens, requester=requester)) as events:
            async for event in events:
                if isinstance(event, TextDelta):
                    parts.append(event.text)
                    for sentence in cutter.feed(event.text):
                        self._first(timings, "first_sentence")
                        sentences.put_nowait(sentence)
                elif isinstance(event, ChatResult):
                    parts[:] = [event.text]
        for sentence in cutter.flush():
            self._first(timings, "first_sentence")
            sentences.put_nowait(sentence)
        sentences.put_nowait(None)
        await speaking

    async def _speak_sentences(self, sentences: asyncio.Queue[str | None], settings: GuildVoiceSettings,
                               result: TurnResult) -> None:
        async with self._voice_lock:
            await self._speak_all(sentences, settings, result)
        if result.spoken:
            await self.queue.wait_idle()
            result.timings.first_audio = self.queue.first_frame_at

    async def _speak_all(self, sentences: asyncio.Queue[str | None], settings: GuildVoiceSettings,
                         result: TurnResult) -> None:
        generation = self.queue.open_segment()
        try:
            while (sentence := await sentences.get()) is not None:
                if result.degraded == "tts":
                    continue
                if self.tts is None:
                    result.degraded = "tts"
                    continue
                try:
                    await self._speak(sentence, settings, generation, result.spoken, result.timings)
                except ServiceError as exc:
                    log.warning("TTS failed; the answer goes to the text channel instead: %s", exc)
                    result.degraded = "tts"
        finally:
            self.queue.close_segment(generation)

    async def _speak(self, text: str, settings: GuildVoiceSettings, generation: int, spoken: list[str],
                     timings: TurnTimings | None = None) -> None:
        """Synthesize one sentence into the queue, starting playback with its first PCM."""
        assert self.tts is not None
        if timings is not None:
            self._first(timings, "tts_started")
        if settings.rvc and self.rvc is not None:
            clip = await self.tts.synthesize(text, voice=settings.voice, speed=settings.speed)
            try:
                clip = await self.rvc.convert(clip)
            except ServiceError as exc:
                log.warning("RVC failed; playing the unconverted voice: %s", exc)
            self._queue_pcm(to_discord(clip), generation, timings)
        else:
            converter = StreamConverter(self.tts.sample_rate, 1)
            async with aclosing(self.tts.stream(text, voice=settings.voice, speed=settings.speed)) as chunks:
                async for chunk in chunks:
                    self._queue_pcm(converter.feed(chunk), generation, timings)
            self._queue_pcm(converter.flush(), generation, timings)
        spoken.append(text)

    def _queue_pcm(self, pcm: bytes, generation: int, timings: TurnTimings | None) -> None:
        if not pcm:
            return
        if not self.queue.push(pcm, generation):
            raise BargedIn  # barge-in cleared the queue under us
        if timings is not None:
            self._first(timings, "first_pcm")
        self.output.start_playback()

    async def _apologize(self, settings: GuildVoiceSettings) -> None:
        if self.tts is not None:
            try:
                await self.say(LLM_APOLOGY, settings)
                return
            except BargedIn:
                return  # someone is already talking again
            except ServiceError as exc:
                log.warning("Could not speak the apology either: %s", exc)
        await self.output.post(LLM_APOLOGY)

    async def _admitted(self, speaker: Speaker) -> bool:
        """The speaker's rate limit and quota let this turn through (one unit of rate used); else they are told."""
        if self.limits is None:
            return True
        refusal = await self.limits.admit(speaker.user_id, self.guild_id, model=True)
        if refusal is not None:
            await self._refuse(speaker, refusal)
            return False
        return True

    async def _refuse(self, speaker: Speaker, message: str) -> None:
        """A limit refused the speaker: say so in text, once a minute at most (speech keeps coming)."""
        now = self._clock()
        if now - self._told.get(speaker.user_id, float("-inf")) < REFUSAL_REPEAT:
            return
        self._told = {k: t for k, t in self._told.items() if now - t < REFUSAL_REPEAT}
        self._told[speaker.user_id] = now
        await self.output.post(f"🎙️ **{speaker.name}:** {message}")

    async def _stt_down(self, timings: TurnTimings, cause: str) -> TurnResult:
        log.warning("Voice input unavailable: %s", cause)
        if not self._stt_notice_sent:
            self._stt_notice_sent = True
            await self.output.post(STT_UNAVAILABLE)
        return TurnResult(status="failed", degraded="stt", timings=timings)

    def _first(self, timings: TurnTimings, name: str) -> None:
        if getattr(timings, name) is None:
            setattr(timings, name, self._clock())


async def _unless_interrupted(work: Awaitable[None], interrupt: asyncio.Event) -> None:
    """Run `work` to the end, or stop it and raise BargedIn as soon as `interrupt` is set."""
    task = asyncio.ensure_future(work)
    waiter = asyncio.ensure_future(interrupt.wait())
    try:
        await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        waiter.cancel()
        if not task.done():
            await _stop(task)
    if task.cancelled() or interrupt.is_set():
        raise BargedIn  # also when the work ended because barge-in emptied the queue it was waiting on
    task.result()


async def _stop(task: asyncio.Future[None]) -> None:
    """Cancel a helper task and wait until it has stopped; what it raised no longer matters."""
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError, BargedIn, ServiceError):
        await task
