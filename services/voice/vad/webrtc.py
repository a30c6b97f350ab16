"""WebRTC's VAD (webrtcvad-wheels): tiny and instant, but it calls a steady low hum or sustained
musical notes speech, so a fan or music in a member's room can start utterances."""

from __future__ import annotations

import numpy as np
import webrtcvad

from services.voice.vad.base import RATE, VoiceActivityDetector


class WebRtcVad(VoiceActivityDetector):
    name = "webrtc"

    def __init__(self, *, aggressiveness: int = 2, min_rms: float = 0.003) -> None:
        super().__init__(min_rms=min_rms)
        self._aggressiveness = aggressiveness
        self._vad = webrtcvad.Vad(aggressiveness)

    def _speech(self, mono: np.ndarray) -> bool:
        return self._vad.is_speech(mono.astype("<i2").tobytes(), RATE)

    def reset(self) -> None:
        """WebRTC's VAD decides each frame on its own (its adaptation needs no reset)."""
        self._vad = webrtcvad.Vad(self._aggressiveness)
