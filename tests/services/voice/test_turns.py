"""Turn-taking on real speech (Piper) with pauses, on a simulated clock: speculative transcription
at a candidate end, discarded when the member goes on, committed early when it reads finished,
reused (never transcribed twice) when the full silence commits it; members never merged."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest

from devtools.fakes.engines import KOKORO_RATE, piper_sentences
from services.errors import TransientError
from services.speech import Transcript
from services.speech.audio import AudioClip, convert
from services.voice.endpoint import FRAME_BYTES, EndpointConfig, Utterance
from services.voice.turns import HeardTurn, TurnTaker, sounds_finished

pytestmark = pytest.mark.slow  # Piper

SILENT = bytes(FRAME_BYTES)


def frames_of(pcm24k: bytes) -> list[bytes]:
    """20 ms frames of the speech, without Piper's leading and trailing quiet (pauses are set by tests)."""
    stereo = convert(AudioClip(pcm24k, KOKORO_RATE, 1), 48_000, 2).pcm
    stereo += bytes(-len(stereo) % FRAME_BYTES)
    frames = [stereo[i:i + FRAME_BYTES] for i in range(0, len(stereo), FRAME_BYTES)]
    loud = [i for i, f in enumerate(frames) if np.abs(np.frombuffer(f, "<i2")).max() > 1000]
    return frames[loud[0]:loud[-1] + 1]


@dataclass
class Sim:
    """A simulated clock, a scripted STT (texts in order, each taking `delay` simulated seconds)."""

    texts: list[str]
    delay: float = 0.3
    now: float = 0.0
    calls: list[tuple[float, Utterance]] = field(default_factory=list)
    turns: list[tuple[float, HeardTurn]] = field(default_factory=list)
    fail: bool = False
    text_for: Callable[[Utterance], str] | None = None  # instead of `texts`, by what was said

    async def transcribe(self, utterance: Utterance) -> Transcript:
        self.calls.append((self.now, utterance))
        text = self.text_for(utterance) if self.text_for else self.texts[min(len(self.calls), len(self.texts)) - 1]
        due = self.now + self.delay
        while self.now < due:  # noqa: ASYNC110 - waits on the simulated clock the test advances
            await asyncio.sleep(0)
        if self.fail:
            raise TransientError("stt:whisper", "server is down")
        return Transcript(text)

    def on_turn(self, turn: HeardTurn) -> None:
        self.turns.append((self.now, turn))

    def taker(self, **config: Any) -> TurnTaker:
        settings = {"silence_ms": 600, "candidate_ms": 200, **config}
        return TurnTaker(EndpointConfig(**settings), on_turn=self.on_turn, transcribe=self.transcribe,
                         clock=lambda: self.now)

    async def play(self, taker: TurnTaker, streams: dict[int, list[bytes | None]], tail: float = 1.5) -> None:
        """Each member's frames (None: no packet) every 20 ms, then `tail` seconds without packets."""
        length = max(len(s) for s in streams.values()) + round(tail / 0.02)
        for index in range(length):
            self.now = round(index * 0.02, 3)
            for user_id, frames in streams.items():
                if index < len(frames) and frames[index] is not None:
                    taker.feed(user_id, frames[index], self.now)  # type: ignore[arg-type]
            taker.poll(self.now)
            for _ in range(4):
                await asyncio.sleep(0)


@pytest.fixture(scope="module")
def clause(piper_voice: Any) -> list[bytes]:
    return frames_of(b"".join(piper_sentences(piper_voice, "Please turn the lights off in the kitchen")))


@pytest.fixture(scope="module")
def question(piper_voice: Any) -> list[bytes]:
    return frames_of(b"".join(piper_sentences(piper_voice, "What is the capital of France?")))


@pytest.fixture(scope="module")
def rest(piper_voice: Any) -> list[bytes]:
    return frames_of(b"".join(piper_sentences(piper_voice, "and then lock the front door.")))


def pause(ms: int) -> list[bytes | None]:
    return [SILENT] * 5 + [None] * (ms // 20 - 5)  # a few silence frames, then no packets, as clients send


def test_what_sounds_finished() -> None:
    assert sounds_finished("What is the capital of France?") and sounds_finished("Turn it off!")
    assert sounds_finished("Please lock the door.")
    for text in ("Please turn the lights off in the kitchen,", "What is the...", "I want to go to the.",
                 "and then", "So the thing is", "", "Okay and."):
        assert not sounds_finished(text), text


async def test_a_finished_transcript_commits_before_the_full_silence(question: list[bytes]) -> None:
    sim = Sim(["What is the capital of France?"], delay=0.25)
    taker = sim.taker()
    await sim.play(taker, {1: [SILENT] * 10 + question})
    [(at, turn)] = sim.turns
    assert turn.reason == "finished" and len(sim.calls) == 1
    end = turn.utterance.speech_end_at
    assert 0.2 + 0.25 <= at - end < 0.6, "committed when the transcript came back, before the 600 ms silence"
    assert turn.transcript is not None and turn.transcript.done()
    assert turn.transcript.result().text == "What is the capital of France?"
    assert taker.stats.early == 1 and taker.stats.discarded == 0


async def test_a_member_who_goes_on_after_a_pause_is_not_cut_off(clause: list[bytes], rest: list[bytes]) -> None:
    whole = (len(clause) + len(rest)) * 0.02
    sim = Sim([], delay=0.3, text_for=lambda u: "Please turn the lights off in the kitchen and then lock the front door."
              if u.duration > whole * 0.95 else "Please turn the lights off in the kitchen,")
    taker = sim.taker()
    await sim.play(taker, {1: [SILENT] * 10 + clause + pause(400) + rest})
    [(_, turn)] = sim.turns
    assert turn.utterance.duration > (len(clause) + len(rest)) * 0.02 * 0.9, "the whole utterance, both clauses"
    pause_at = (10 + len(clause)) * 0.02
    assert any(pause_at + 0.05 < at < pause_at + 0.4 for at, _ in sim.calls), "a speculation came at the pause"
    assert len(sim.calls) >= 2 and taker.stats.speculations == len(sim.calls)
    assert taker.stats.discarded == len(sim.calls) - 1  # each one was in flight when she went on
    assert turn.transcript is not None and turn.transcript.result().text.endswith("door.")


async def test_an_unfinished_transcript_waits_for_the_full_silence_and_is_reused(clause: list[bytes]) -> None:
    sim = Sim(["Please turn the lights off in the kitchen,"], delay=0.1)
    taker = sim.taker()
    await sim.play(taker, {1: [SILENT] * 10 + clause})
    [(at, turn)] = sim.turns
    assert turn.reason == "silence" and 0.6 <= at - turn.utterance.speech_end_at < 0.65
    assert len(sim.calls) == 1 and turn.transcript is not None, "the speculative transcription is reused"


async def test_a_long_pause_after_an_unfinished_clause_still_commits_a_complete_but_separate_turn(
        clause: list[bytes], rest: list[bytes]) -> None:
    """A pause longer than the full silence ends the turn, as it always did (VOICE_SILENCE_MS)."""
    sim = Sim(["Please turn the lights off in the kitchen,", "And then lock the front door."], delay=0.1)
    taker = sim.taker()
    await sim.play(taker, {1: [SILENT] * 10 + clause + pause(900) + rest})
    assert [t.reason for _, t in sim.turns] == ["silence", "finished"]


async def test_without_speculation_the_turn_ends_at_the_full_silence(clause: list[bytes]) -> None:
    sim = Sim(["unused"])
    taker = TurnTaker(EndpointConfig(silence_ms=600), on_turn=sim.on_turn, transcribe=None, clock=lambda: sim.now)
    await sim.play(taker, {1: [SILENT] * 10 + clause})
    [(at, turn)] = sim.turns
    assert turn.transcript is None and turn.reason == "silence" and not sim.calls
    assert 0.6 <= at - turn.utterance.speech_end_at < 0.65


async def test_two_members_talking_at_once_are_two_turns(clause: list[bytes], rest: list[bytes]) -> None:
    sim = Sim(["Please turn the lights off in the kitchen.", "And then lock the front door."], delay=0.2)
    taker = sim.taker()
    await sim.play(taker, {1: [SILENT] * 10 + clause, 2: [SILENT] * 30 + rest})
    by_member = {t.user_id: t for _, t in sim.turns}
    assert set(by_member) == {1, 2} and len(sim.turns) == 2
    assert abs(by_member[1].utterance.duration - len(clause) * 0.02) < 0.4
    assert abs(by_member[2].utterance.duration - len(rest) * 0.02) < 0.4


async def test_a_failing_speculation_reaches_the_turn_as_its_error(clause: list[bytes]) -> None:
    sim = Sim(["x"], delay=0.1, fail=True)
    taker = sim.taker()
    await sim.play(taker, {1: [SILENT] * 10 + clause})
    [(_, turn)] = sim.turns
    assert turn.reason == "silence" and turn.transcript is not None
    with pytest.raises(TransientError):
        turn.transcript.result()


async def test_a_forgotten_member_loses_their_audio_and_speculation(clause: list[bytes]) -> None:
    """Opted out or gone mid-sentence (the session calls forget): nothing of them is committed or kept."""
    sim = Sim(["Please turn the lights off in the kitchen,"], delay=0.5)
    taker = sim.taker()
    await sim.play(taker, {1: [SILENT] * 10 + clause + [None] * 15}, tail=0)
    assert len(sim.calls) == 1 and taker.members == [1]  # a speculation in flight
    speculation = taker._members[1].task
    assert speculation is not None and not speculation.done()
    taker.forget(1)
    await asyncio.sleep(0)
    assert speculation.cancelled() and taker.members == []
    await sim.play(taker, {2: [SILENT]}, tail=1.5)  # time passes: no full silence commits her turn
    assert sim.turns == [] and taker.stats.committed == 0
