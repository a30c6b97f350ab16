"""Voice activity detectors (VOICE_VAD): one base, one module per engine."""

from __future__ import annotations

from services.voice.vad.base import VoiceActivityDetector

VAD_ENGINES = ("silero", "webrtc")

__all__ = ["VAD_ENGINES", "VoiceActivityDetector", "make_vad"]


def make_vad(engine: str, *, min_rms: float = 0.003, aggressiveness: int = 2) -> VoiceActivityDetector:
    """A fresh detector for one speaker (engines load lazily: webrtc-only bots never load Silero)."""
    if engine == "silero":
        from services.voice.vad.silero import SileroVad

        return SileroVad(min_rms=min_rms)
    if engine == "webrtc":
        from services.voice.vad.webrtc import WebRtcVad

        return WebRtcVad(aggressiveness=aggressiveness, min_rms=min_rms)
    raise ValueError(f"unknown VAD engine {engine!r} (choose one of {', '.join(VAD_ENGINES)})")
