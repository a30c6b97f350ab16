"""Endpointing: when does a member start and stop talking, from their own 20 ms audio frames.

WebRTC's VAD (webrtcvad-wheels: tiny, no model download, runs at 48 kHz) decides per frame, gated by
a level floor so that hiss it calls "speech" never starts an utterance. An utterance starts after a
few voiced frames (a click is not speech) with a short pre-roll so its first syllable is kept, and
ends after `silence_ms` without a voiced frame, or at `max_utterance_s`. Time is given by the caller
(`now`): Discord stops sending packets when someone stops talking, so the end is found by `poll`.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np
import webrtcvad

RATE = 48_000
CHANNELS = 2
FRAME_MS = 20
FRAME_BYTES = RATE * FRAME_MS // 1000 * CHANNELS * 2  # 3840: one 20 ms stereo s16le frame


@dataclass(frozen=True)
class Utterance:
    """48 kHz stereo PCM of one utterance and when it happened (the caller's clock)."""

    pcm: bytes
    started_at: float
    speech_end_at: float  # the last voiced frame
    ended_at: float  # when the end was decided
    cut: bool = False  # True when max_utterance_s ended it

    @property
    def duration(self) -> float:
        return len(self.pcm) / (RATE * CHANNELS * 2)


@dataclass(frozen=True)
class EndpointConfig:
    silence_ms: int = 600
    max_utterance_s: float = 15.0
    aggressiveness: int = 2  # 0..3, WebRTC VAD's mode
    min_rms: float = 0.003  # about -50 dBFS; quieter "speech" is noise
    start_frames: int = 3  # voiced frames among the last `start_window` that start an utterance
    start_window: int = 5
    preroll_frames: int = 10  # 200 ms kept from before the start
    tail_frames: int = 5  # 100 ms of trailing quiet kept after the last voiced frame


class Endpointer:
    """One speaker's state. Not thread-safe: feed it from one task."""

    def __init__(self, config: EndpointConfig | None = None) -> None:
        self.config = config or EndpointConfig()
        self._vad = webrtcvad.Vad(self.config.aggressiveness)
        self._recent: deque[tuple[bytes, bool]] = deque(maxlen=max(self.config.preroll_frames,
                                                                      self.config.start_window))
        self._frames: list[bytes] = []
        self._started_at: float | None = None
        self._last_voiced_at = 0.0
        self._last_voiced_index = 0

    @property
    def speaking(self) -> bool:
        return self._started_at is not None

    def is_voiced(self, frame: bytes) -> bool:
        mono = np.frombuffer(frame, dtype="<i2").reshape(-1, CHANNELS).mean(axis=1)
        if not len(mono) or float(np.sqrt(np.mean(mono * mono))) / 32768.0 < self.config.min_rms:
            return False
        return self._vad.is_speech(mono.astype("<i2").tobytes(), RATE)

    def feed(self, frame: bytes, now: float) -> tuple[bool, Utterance | None]:
        """One 20 ms frame -> (an utterance started with it, an utterance that ended with it)."""
        if len(frame) != FRAME_BYTES:
            frame = frame[:FRAME_BYTES].ljust(FRAME_BYTES, b"\0")
        voiced = self.is_voiced(frame)
        if self._started_at is None:
            self._recent.append((frame, voiced))
            window = list(self._recent)[-self.config.start_window:]
            if sum(v for _, v in window) < self.config.start_frames:
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
        if self._started_at is None or (now - self._last_voiced_at) * 1000 < self.config.silence_ms:
            return None
        return self._finish(now, cut=False)

    def reset(self) -> None:
        self._recent.clear()
        self._frames = []
        self._started_at = None

    def _mark_voiced(self, now: float) -> None:
        self._last_voiced_at = now
        self._last_voiced_index = len(self._frames)

    def _finish(self, now: float, *, cut: bool) -> Utterance:
        assert self._started_at is not None
        end = len(self._frames) if cut else min(len(self._frames), self._last_voiced_index + self.config.tail_frames)
        utterance = Utterance(b"".join(self._frames[:end]), self._started_at, self._last_voiced_at, now, cut)
        self.reset()
        return utterance
