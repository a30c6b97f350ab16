"""What a voice turn takes and gives: the speaker, and the result with its timings (for logs and
bench/voice_latency.py)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class TurnTimings:
    """perf_counter() stamps of one turn, for logs and the latency benchmark."""

    speech_end: float | None = None
    heard: float | None = None  # endpointing decided the utterance was over
    transcribed: float | None = None
    llm_started: float | None = None  # the model was asked (history read, prompt built)
    first_sentence: float | None = None
    tts_started: float | None = None  # the first sentence went to TTS
    first_pcm: float | None = None  # the first sentence's first PCM was queued
    first_audio: float | None = None  # the player read the first frame of the answer


@dataclass
class TurnResult:
    transcript: str = ""
    answer: str = ""
    spoken: list[str] = field(default_factory=list)
    status: str = "complete"  # complete | interrupted | failed | ignored | unaddressed
    degraded: str | None = None  # "tts" | "stt" | "llm" when a fallback was used
    timings: TurnTimings = field(default_factory=TurnTimings)


@dataclass
class Speaker:
    user_id: int
    name: str


class BargedIn(Exception):
    """A member spoke over the bot: what it was saying stops (an answer is kept as interrupted)."""
