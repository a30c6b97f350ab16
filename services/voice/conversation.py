"""One voice channel's conversation: heard speech -> STT -> a chat turn with tools -> sentences -> TTS.

Discord-free: the cog hands in utterances (with their speculative transcription when turn-taking
started one, services/voice/turns.py) and an `Output` (post text in the call's chat, start the
player, say where the call is). A turn is a chat turn (services/chat/turn.py, `voice=True`): the
persona and model chain of the call's chat channel (or server), and the same tools, limits and
prompt-injection rule as /chat, so "remind me in ten minutes to stretch" sets the speaker's own
reminder. Only the answer's text is spoken, never its thinking; what a tool did and the sources it
used are posted with the answer's text in the call's chat. Latency comes from overlapping the
stages: the first piece of the answer is cut from the token stream at its first clause, later ones
sentence by sentence (what the model says before a tool runs is spoken while it runs); each is
synthesized as soon as it exists (services/voice/speaking.py). Turns not addressed to the bot (per
the server's addressing) are ignored; answers are given one at a time, members served in turn
(FairTurns). Barge-in stops the turn (`BargedIn`), empties the queue and stores what had been said
as an interrupted answer. Failures degrade to text (TTS), one notice (STT), or an apology (LLM).
A voice turn is a costly command like any other: the speaker's rate limit and token quota apply
(services/limits) to each turn meant for the bot and to each tool round (in name and wake modes,
talk between members is not charged), and a refusal is said once in the call's text channel.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Protocol

from services.chat.context import Prompt
from services.chat.memory import MessageRef
from services.chat.turn import ChatTurns, PreparedTurn, TurnRequest
from services.errors import ServiceDisabled, ServiceError
from services.limits import LimitReached, MemberLimits, Requester
from services.llm import TextDelta
from services.speech import STT, TTS, AudioClip, Transcript, VoiceConverter
from services.tools import AnswerDone, ToolFinished, ToolOutcome, ToolStarted
from services.voice.addressing import Addressing
from services.voice.endpoint import RATE, Utterance
from services.voice.fair import FairTurns
from services.voice.memory import voice_memory_kind
from services.voice.playback import PcmQueue
from services.voice.results import BargedIn, Speaker, TurnResult, TurnTimings
from services.voice.sentences import SentenceCutter
from services.voice.settings_store import GuildVoiceSettings
from services.voice.speaking import Voice, first

log = logging.getLogger(__name__)

__all__ = ["ALWAYS", "LLM_APOLOGY", "STT_UNAVAILABLE", "BargedIn", "Output", "Speaker", "TurnResult", "TurnTimings",
           "VoiceConversation"]

STT_UNAVAILABLE = "Voice input is unavailable right now (speech recognition is down); type to me instead."
LLM_APOLOGY = "Sorry, I can't answer right now: my language model is unavailable."
FIRST_CLAUSE_WORDS = 4  # the first spoken piece may end at a comma once it has this many words
ALWAYS = Addressing()
REFUSAL_REPEAT = 60.0  # seconds before the same member is told again that they are over a limit
StageObserver = Callable[[Mapping[str, float | None]], None]


class Output(Protocol):
    """What the conversation needs from Discord."""

    async def post(self, text: str) -> MessageRef | None:
        """Send text to the call's text channel (transcripts and fallbacks); the message, if one was sent."""

    def start_playback(self) -> None:
        """Make sure the player is reading the queue."""

    def channel_ids(self) -> tuple[int, ...]:
        """The chat the call writes in, then the voice channel: where a persona or model is looked up;
        a reminder set by voice is posted in the first."""

    def may_post(self, user_id: int) -> bool:
        """The member may send messages in the call's chat (else a reminder they set by voice goes by DM)."""

    def confirmation(self, effect: object) -> str | None:
        """The line that confirms what a tool did for the member ("⏰ Set #12 for ..."), if it did something."""


@dataclass
class _Written:
    """What the model wrote in one turn so far, and what its tools did."""

    parts: list[str] = field(default_factory=list)
    outcomes: list[ToolOutcome] = field(default_factory=list)
    done: AnswerDone | None = None

    @property
    def text(self) -> str:
        return self.done.text if self.done is not None else "".join(self.parts)


class VoiceConversation:
    """The conversation in one guild's voice channel; one turn at a time."""

    def __init__(self, *, turns: ChatTurns, tts: TTS | None, stt: STT | None, rvc: VoiceConverter | None,
                 queue: PcmQueue, output: Output, max_tokens: int | None = None,
                 first_clause_words: int = FIRST_CLAUSE_WORDS, limits: MemberLimits | None = None,
                 guild_id: int | None = None, observe: StageObserver | None = None,
                 clock: Callable[[], float] = time.perf_counter) -> None:
        self.turns = turns
        self.stt = stt
        self.voice = Voice(tts=tts, rvc=rvc, queue=queue, start_playback=output.start_playback, clock=clock)
        self.limits = limits
        self.guild_id = guild_id
        self._told: dict[int, float] = {}  # member -> when they were last told about a limit
        self.queue = queue
        self.output = output
        self.max_tokens = max_tokens
        self.first_clause_words = first_clause_words
        self._observe = observe  # each transcribed turn's stage times (services/metrics.py voice_turn)
        self._clock = clock
        self._turns = FairTurns()
        self._warming: set[asyncio.Task[bool]] = set()
        self._interrupt: asyncio.Event | None = None  # set by barge_in() while an answer is in progress
        self._stt_notice_sent = False
        self.last_result: TurnResult | None = None

    @property
    def tts(self) -> TTS | None:
        return self.voice.tts

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
        mode stops what the bot is saying (in `always` mode, speech itself does, as soon as it starts).
        Each transcribed turn's stage times go to `observe` once it is over."""
        result = await self._hear(utterance, speaker, scope_id, settings, transcript, addressing, barge_in)
        if self._observe is not None and result.timings.transcribed is not None:
            self._observe(result.timings.stages())
        return result

    async def _hear(self, utterance: Utterance, speaker: Speaker, scope_id: int, settings: GuildVoiceSettings,
                    transcript: Awaitable[Transcript] | None, addressing: Addressing, barge_in: bool) -> TurnResult:
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
        await self.voice.say(text, settings)

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
        turn = await self.turns.prepare(TurnRequest(
            scope_id, prompt, self.guild_id, self.output.channel_ids(), voice=True,
            kind=voice_memory_kind(settings.memory),  # the call's own memory, or the text chat's
            may_post=self.output.may_post(prompt.author_id)))
        pieces: asyncio.Queue[str | None] = asyncio.Queue()
        written = _Written()
        speaking = asyncio.ensure_future(self.voice.speak_pieces(pieces, settings, result))
        try:
            await _unless_interrupted(self._write(turn, pieces, written, timings, speaking), interrupt)
        except (BargedIn, asyncio.CancelledError) as exc:
            # Barge-in, or the session closing (a real cancellation, re-raised once recorded).
            await _stop(speaking)
            self.queue.clear()
            result.status = "interrupted"
            result.answer = written.text
            said = " ".join(result.spoken) or result.answer
            exchange = await asyncio.shield(self.turns.remember(turn, None, partial=said.strip(),
                                                                status="interrupted"))
            text = f"🔊 {said} … *(interrupted)*" if said.strip() else ""
            await asyncio.shield(self._post_answer(exchange, text, written))
            log.info("Voice answer interrupted after %d sentence(s)", len(result.spoken))
            if isinstance(exc, asyncio.CancelledError):
                raise
            return result
        except LimitReached as exc:
            await _stop(speaking)
            result.status = "failed"
            await self.turns.remember(turn, None)  # the member's words, as when the model fails
            await self._refuse(Speaker(prompt.author_id, prompt.author_name), exc.message)
            return result
        except ServiceError as exc:
            await _stop(speaking)
            log.warning("Voice answer failed: the LLM is unavailable: %s", exc)
            result.status, result.degraded = "failed", "llm"
            result.answer = written.text
            exchange = await self.turns.remember(turn, None)
            await self._post_answer(exchange, "", written)  # a reminder set before it failed is still confirmed
            await self._apologize(settings)
            return result
        result.answer = written.text.strip()
        exchange = await self.turns.remember(turn, written.done, partial=result.answer)
        if result.degraded == "tts":
            await self._post_answer(exchange, result.answer, written)
        else:
            await self._post_answer(exchange, f"🔊 {result.answer}" if result.spoken else "", written)
        timings.first_audio = timings.first_audio or self.queue.first_frame_at
        return result

    async def _write(self, turn: PreparedTurn, pieces: asyncio.Queue[str | None], written: _Written,
                     timings: TurnTimings, speaking: asyncio.Future[None]) -> None:
        """Stream the turn's answer into `written` and, piece by piece, to the speaking task. Only text is
        spoken: thinking never; what was said before a tool call goes at once, while the tool runs."""
        cutter = SentenceCutter(first_clause_words=self.first_clause_words)
        requester = Requester(turn.ctx.member_id, self.guild_id)

        def speak(texts: list[str]) -> None:
            for text in texts:
                first(timings, "first_sentence", self._clock)
                pieces.put_nowait(text)

        timings.llm_started = self._clock()
        events = self.turns.answer(turn, admit_round=self._admit_round(requester), requester=requester,
                                   max_tokens=self.max_tokens)
        async with aclosing(events) as answer:
            async for event in answer:
                if isinstance(event, TextDelta):
                    written.parts.append(event.text)
                    speak(cutter.feed(event.text))
                elif isinstance(event, ToolStarted):
                    speak(cutter.flush())
                elif isinstance(event, ToolFinished):
                    written.outcomes.append(event.outcome)
                elif isinstance(event, AnswerDone):
                    written.done = event
        speak(cutter.flush())
        pieces.put_nowait(None)
        await speaking

    def _admit_round(self, requester: Requester) -> Callable[[int], Awaitable[None]] | None:
        """A tool round is one more costly request of the speaker's (as in /chat)."""
        limits = self.limits
        if limits is None:
            return None

        async def admit(_round: int) -> None:
            if (refusal := await limits.admit(requester.member_id, requester.guild_id, model=True)) is not None:
                raise LimitReached(refusal)
        return admit

    async def _post_answer(self, exchange_id: int | None, text: str, written: _Written) -> None:
        """The answer's text (when there is one to show), what its tools did and the sources they used, in the
        call's chat; linked to the exchange, so deleting the message erases it."""
        effects = [o.effect for o in written.outcomes if o.ok and o.effect is not None]
        lines = [text, *(line for e in effects if (line := self.output.confirmation(e))),
                 written.done.footer() if written.done is not None else ""]
        message = "\n".join(line for line in lines if line)
        if not message:
            return
        posted = await self.output.post(message)
        if posted is not None and exchange_id is not None:
            await self.turns.link(exchange_id, [posted])

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
