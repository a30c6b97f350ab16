"""Voice activity detection: is this 20 ms of one member's audio speech?

One detector per speaker (they keep state between frames). The template method gates every
decision by level, so quiet "speech" (hiss a detector calls voiced) never starts an utterance;
each engine decides the rest. Engines: webrtc (webrtcvad) and silero (a small neural model).
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np

RATE = 48_000
CHANNELS = 2
FRAME_MS = 20
FRAME_BYTES = RATE * FRAME_MS // 1000 * CHANNELS * 2  # 3840: one 20 ms stereo s16le frame


class VoiceActivityDetector(ABC):
    """Feed every frame of one speaker, in order; `is_voiced` says whether it is speech."""

    name: str
    # An utterance starts after `start_frames` voiced frames among the last `start_window` (20 ms each):
    # enough to skip a click or a note's attack, few enough to keep barge-in quick.
    start_frames: int = 3
    start_window: int = 5

    def __init__(self, *, min_rms: float = 0.003) -> None:
        self.min_rms = min_rms  # about -50 dBFS

    def is_voiced(self, frame: bytes) -> bool:
        """One 20 ms frame of 48 kHz stereo s16le (shorter frames are padded with silence)."""
        if len(frame) != FRAME_BYTES:
            frame = frame[:FRAME_BYTES].ljust(FRAME_BYTES, b"\0")
        mono = np.frombuffer(frame, dtype="<i2").reshape(-1, CHANNELS).mean(axis=1)
        speech = self._speech(mono)  # always called: stateful engines need the audio without gaps
        level = float(np.sqrt(np.mean(mono * mono))) / 32768.0
        return speech and level >= self.min_rms

    @abstractmethod
    def _speech(self, mono: np.ndarray) -> bool:
        """The engine's decision for 960 mono samples at 48 kHz (float64, s16 scale)."""

    @abstractmethod
    def reset(self) -> None:
        """Forget the state carried between frames (a new utterance from the same speaker may follow)."""
