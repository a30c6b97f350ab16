"""Turn-taking for one voice channel: when is a member's turn over, and what did they say.

Each member has their own Endpointer, so two members talking at once are never merged. A short
pause (`candidate_ms`, about 200 ms) is a candidate end: the audio so far is transcribed at once,
speculatively, while listening goes on. If the member goes on, that transcription is discarded
(cancelled) and the utterance continues. The turn is committed when the pause reaches the full
silence (`silence_ms`) or when the speculative transcript reads as a finished turn (it ends a
sentence or a question, and not on a word that announces more); a committed turn carries the
speculative transcription, finished or still running, so the audio is never transcribed twice.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from services.speech import Transcript
from services.voice.endpoint import EndpointConfig, Endpointer, Utterance

log = logging.getLogger(__name__)

Transcribe = Callable[[Utterance], Awaitable[Transcript]]

# A turn that ends on one of these is not finished, whatever punctuation Whisper put after it.
_CONTINUES = frozenset({
    "and", "but", "or", "so", "because", "then", "the", "a", "an", "to", "of", "with", "that", "which", "if",
    "for", "in", "on", "at", "my", "your", "is", "are", "was", "um", "uh", "er", "like", "about", "from",
})
_WORD = re.compile(r"[\w']+")


def sounds_finished(text: str) -> bool:
    """Does this transcript read as a whole turn: a sentence or question, not trailing off?"""
    text = text.strip().strip("\"'”’)]")
    if not text or text.endswith(("...", "…", ",", ";", ":", "-", "—")) or text[-1] not in ".?!":
        return False
    words = _WORD.findall(text.lower())
    return bool(words) and words[-1] not in _CONTINUES


@dataclass
class HeardTurn:
    """A committed turn: the utterance, and its transcription if speculation already started one."""

    user_id: int
    utterance: Utterance
    transcript: asyncio.Future[Transcript] | None  # None: transcribe the utterance now
    reason: str  # "silence" (the full pause), "finished" (the transcript read as a whole turn) or "cut"


@dataclass
class TurnStats:
    speculations: int = 0  # candidate ends transcribed
    discarded: int = 0  # ... whose member went on
    early: int = 0  # turns committed on a finished-sounding transcript before the full silence
    committed: int = 0


@dataclass
class _Member:
    endpointer: Endpointer
    candidate: Utterance | None = None
    task: asyncio.Task[Transcript] | None = None


@dataclass
class TurnTaker:
    """Per-member endpointing and speculation; `on_turn` gets each committed turn, in order per member."""

    config: EndpointConfig
    on_turn: Callable[[HeardTurn], None]
    transcribe: Transcribe | None = None  # None: no speculation (nothing to transcribe with)
    clock: Callable[[], float] = time.perf_counter
    stats: TurnStats = field(default_factory=TurnStats)
    _members: dict[int, _Member] = field(default_factory=dict)

    def feed(self, user_id: int, frame: bytes, now: float) -> bool:
        """One 20 ms frame of a member; True when it started an utterance (for barge-in)."""
        member = self._members.get(user_id)
        if member is None:
            member = self._members[user_id] = _Member(Endpointer(self.config))
        started, utterance = member.endpointer.feed(frame, now)
        if member.candidate is not None and member.endpointer.last_voiced_at > member.candidate.speech_end_at:
            self._discard(member)  # the member went on after the pause
        if utterance is not None:
            self._commit(user_id, member, utterance, "cut" if utterance.cut else "silence")
        else:
            self._speculate(user_id, member, now)
        return started

    def poll(self, now: float) -> None:
        """Between packets (members who stopped talking send none): full silences and candidate ends."""
        for user_id, member in list(self._members.items()):
            utterance = member.endpointer.poll(now)
            if utterance is not None:
                self._commit(user_id, member, utterance, "silence")
            else:
                self._speculate(user_id, member, now)

    def forget(self, user_id: int) -> None:
        member = self._members.pop(user_id, None)
        if member is not None:
            self._discard(member)

    def close(self) -> None:
        for user_id in list(self._members):
            self.forget(user_id)

    @property
    def members(self) -> list[int]:
        """Members with audio or a speculation held here."""
        return list(self._members)

    @property
    def speaking(self) -> list[int]:
        return [uid for uid, m in self._members.items() if m.endpointer.speaking]

    # --- internals --------------------------------------------------------------------------------

    def _speculate(self, user_id: int, member: _Member, now: float) -> None:
        if self.transcribe is None:
            return
        candidate = member.endpointer.pause(now)
        if candidate is None:
            return
        self._discard(member)
        member.candidate = candidate
        member.task = task = asyncio.ensure_future(self.transcribe(candidate))
        self.stats.speculations += 1
        task.add_done_callback(lambda t: self._speculated(user_id, member, t))

    def _speculated(self, user_id: int, member: _Member, task: asyncio.Task[Transcript]) -> None:
        if task.cancelled():
            return
        error = task.exception()
        if member.task is not task or self._members.get(user_id) is not member:
            return  # discarded or already committed
        if error is not None or not sounds_finished(task.result().text):
            return  # wait for the full silence (an error is reported when the turn is answered)
        candidate = member.candidate
        assert candidate is not None
        if member.endpointer.last_voiced_at > candidate.speech_end_at:
            return  # the member went on; the next frame discards this
        utterance = member.endpointer.finish(self.clock())
        if utterance is not None:
            self.stats.early += 1
            self._commit(user_id, member, utterance, "finished")

    def _commit(self, user_id: int, member: _Member, utterance: Utterance, reason: str) -> None:
        transcript: asyncio.Future[Transcript] | None = None
        if member.task is not None and member.candidate is not None and member.candidate.same_speech(utterance):
            transcript = member.task
            member.task = member.candidate = None
            transcript.add_done_callback(_retrieve)  # its error is reported by whoever answers the turn, if anyone
        else:
            self._discard(member)
        self.stats.committed += 1
        self.on_turn(HeardTurn(user_id, utterance, transcript, reason))

    def _discard(self, member: _Member) -> None:
        task, member.task, member.candidate = member.task, None, None
        if task is None:
            return
        self.stats.discarded += 1
        if not task.done():
            task.cancel()
        task.add_done_callback(_retrieve)


def _retrieve(task: asyncio.Future[Transcript]) -> None:
    """Mark a speculation's outcome as seen: a discarded one matters to nobody, and a handed-over one
    may be dropped unread when the session closes (asyncio would log "exception never retrieved")."""
    if not task.cancelled():
        task.exception()
