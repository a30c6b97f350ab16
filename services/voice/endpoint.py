"""Endpointing: when does a member start and stop talking, from their own 20 ms audio frames.

A voice activity detector (VOICE_VAD: Silero by default, or WebRTC's) decides per frame, gated by a
level floor. An utterance starts after a few voiced frames (a click is not speech) with a short
pre-roll so its first syllable is kept, and ends after `silence_ms` without a voiced frame, or at
`max_utterance_s`. With `candidate_ms` set, a shorter pause is a *candidate* end: `pause()` hands
out the audio so far once per pause (for a speculative transcription) while the utterance goes
on; `finish()` ends it early when the caller decides the turn is over. Time is given by the
caller (`now`): Discord stops sending packets when someone stops talking, so ends are found by `poll`.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from services.voice.vad import make_vad
from services.voice.vad.base import CHANNELS, FRAME_BYTES, FRAME_MS, RATE

__all__ = ["CHANNELS", "FRAME_BYTES", "FRAME_MS", "RATE", "EndpointConfig", "Endpointer", "Utterance"]


@dataclass(frozen=True)
class Utterance:
    """48 kHz stereo PCM of one utterance and when it happened (the caller's clock)."""

    pcm: bytes
    started_at: float
    speech_end_at: float  # the last voiced frame
    ended_at: float  # when the end (or the candidate end) was decided
    cut: bool = False  # True when max_utterance_s ended it

    @property
    def duration(self) -> float:
        return len(self.pcm) / (RATE * CHANNELS * 2)

    def same_speech(self, other: Utterance) -> bool:
        """Both hold the same audio: nothing was said between one's candidate end and the other's end."""
        return (self.started_at, self.speech_end_at, len(self.pcm)) == (other.started_at, other.speech_end_at,
                                                                        len(other.pcm))


@dataclass(frozen=True)
class EndpointConfig:
    silence_ms: int = 600
    max_utterance_s: float = 15.0
    vad: str = "silero"  # VOICE_VAD: silero | webrtc
    candidate_ms: int | None = None  # a pause this long is a candidate end (None: no speculation)
    aggressiveness: int = 2  # 0..3, WebRTC VAD's mode
    min_rms: float = 0.003  # about -50 dBFS; quieter "speech" is noise
    start_frames: int | None = None  # voiced frames among the last `start_window` that start an utterance
    start_window: int | None = None  # (None: the detector's own, see services/voice/vad/base.py)
    preroll_frames: int = 10  # 200 ms kept from before the start
    tail_frames: int = 5  # 100 ms of trailing quiet kept after the last voiced frame


class Endpointer:
    """One speaker's state. Not thread-safe: feed it from one task."""

    def __init__(self, config: EndpointConfig | None = None) -> None:
        self.config = config or EndpointConfig()
        self._vad = make_vad(self.config.vad, min_rms=self.config.min_rms,
                             aggressiveness=self.config.aggressiveness)
        self._start_frames = self.config.start_frames or self._vad.start_frames
        self._start_window = self.config.start_window or self._vad.start_window
        self._recent: deque[tuple[bytes, bool]] = deque(maxlen=max(self.config.preroll_frames, self._start_window))
        self._frames: list[bytes] = []
        self._started_at: float | None = None
        self.last_voiced_at = 0.0
        self._last_voiced_index = 0
        self._candidate_given = False

    @property
    def speaking(self) -> bool:
        return self._started_at is not None

    def is_voiced(self, frame: bytes) -> bool:
        return self._vad.is_voiced(frame)

    def feed(self, frame: bytes, now: float) -> tuple[bool, Utterance | None]:
        """One 20 ms frame -> (an utterance started with it, an utterance that ended with it)."""
        if len(frame) != FRAME_BYTES:
            frame = frame[:FRAME_BYTES].ljust(FRAME_BYTES, b"\0")
        voiced = self.is_voiced(frame)
        if self._started_at is None:
            self._recent.append((frame, voiced))
            window = list(self._recent)[-self._start_window:]
            if sum(v for _, v in window) < self._start_frames:
                return False, None
            preroll = list(self._recent)[-self.config.preroll_frames:]
            self._frames = [f for f, _ in preroll]
            self._recent.clear()
            self._started_at = now - (len(preroll) - 1) * FRAME_MS / 1000
            self._mark_voiced(now)
            return True, None
        self._frames.append(frame)
        if voiced:
            self._mark_voiced(now)
        if len(self._frames) * FRAME_MS / 1000 >= self.config.max_utterance_s:
            return False, self._finish(now, cut=True)
        return False, self.poll(now)

    def poll(self, now: float) -> Utterance | None:
        """The utterance, once `silence_ms` passed since its last voiced frame (packets or not)."""
        if self._started_at is None or (now - self.last_voiced_at) * 1000 < self.config.silence_ms:
            return None
        return self._finish(now, cut=False)

    def pause(self, now: float) -> Utterance | None:
        """The audio so far, once per pause that reached `candidate_ms`; the utterance goes on."""
        if (self._started_at is None or self.config.candidate_ms is None or self._candidate_given
                or (now - self.last_voiced_at) * 1000 < self.config.candidate_ms):
            return None
        self._candidate_given = True
        return self._snapshot(now, cut=False)

    def finish(self, now: float) -> Utterance | None:
        """End the utterance now (the caller decided the turn is over); None when none is going on."""
        return None if self._started_at is None else self._finish(now, cut=False)

    def reset(self) -> None:
        self._recent.clear()
        self._frames = []
        self._started_at = None
        self._candidate_given = False

    def _mark_voiced(self, now: float) -> None:
        self.last_voiced_at = now
        self._last_voiced_index = len(self._frames)
        self._candidate_given = False

    def _snapshot(self, now: float, *, cut: bool) -> Utterance:
        assert self._started_at is not None
        end = len(self._frames) if cut else min(len(self._frames), self._last_voiced_index + self.config.tail_frames)
        return Utterance(b"".join(self._frames[:end]), self._started_at, self.last_voiced_at, now, cut)

    def _finish(self, now: float, *, cut: bool) -> Utterance:
        utterance = self._snapshot(now, cut=cut)
        self.reset()
        return utterance
