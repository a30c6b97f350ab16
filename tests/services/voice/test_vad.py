"""Voice activity engines on generated noise and real speech (Piper): Silero must let hum, music-like
chords and clicks pass without starting an utterance (WebRTC's VAD, shown for contrast, does not)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from devtools.fakes import noise
from devtools.fakes.engines import KOKORO_RATE, piper_sentences
from services.speech.audio import AudioClip, convert
from services.voice.endpoint import FRAME_BYTES, EndpointConfig, Endpointer
from services.voice.vad import make_vad

pytestmark = pytest.mark.slow  # Piper

NOISES = {
    "50 Hz hum": noise.hum(),
    "60 Hz hum, loud": noise.hum(mains=60, level=0.6),
    "chords": noise.chords(),
    "low chords": noise.chords(octave=0.5),
    "loud chords": noise.chords(level=0.8, seconds=8),
    "clicks": noise.clicks(),
    "fast clicks": noise.clicks(every=0.05),
}


def frames_of(mono48: bytes) -> list[bytes]:
    stereo = np.repeat(np.frombuffer(mono48, dtype="<i2"), 2).tobytes()
    stereo += bytes(-len(stereo) % FRAME_BYTES)
    return [stereo[i:i + FRAME_BYTES] for i in range(0, len(stereo), FRAME_BYTES)]


def starts(engine: str, frames: list[bytes]) -> int:
    endpointer = Endpointer(EndpointConfig(vad=engine))
    return sum(endpointer.feed(frame, i * 0.02)[0] for i, frame in enumerate(frames))


@pytest.mark.parametrize("name", list(NOISES))
def test_silero_starts_no_utterance_on_noise_or_music(name: str) -> None:
    frames = frames_of(NOISES[name])
    assert np.sqrt(np.mean(np.frombuffer(NOISES[name], "<i2").astype(float) ** 2)) / 32768 > 0.01  # not quiet
    assert starts("silero", frames) == 0


def test_webrtc_takes_hum_and_chords_for_speech_which_is_why_silero_is_the_default() -> None:
    assert starts("webrtc", frames_of(noise.hum())) == 1
    assert starts("webrtc", frames_of(noise.chords())) == 1


@pytest.mark.parametrize("engine", ["silero", "webrtc"])
def test_both_engines_hear_short_and_long_speech(engine: str, piper_voice: Any) -> None:
    for text in ("No.", "What is the capital of France?"):
        speech = b"".join(piper_sentences(piper_voice, text))
        mono48 = convert(AudioClip(speech, KOKORO_RATE, 1), 48_000, 1).pcm
        frames = frames_of(bytes(FRAME_BYTES // 2 * 10) + mono48 + bytes(FRAME_BYTES // 2 * 50))
        endpointer = Endpointer(EndpointConfig(vad=engine))
        ends = [u for i, f in enumerate(frames) if (u := endpointer.feed(f, i * 0.02)[1]) is not None]
        assert len(ends) == 1, (text, engine)
        assert ends[0].duration > len(mono48) / 2 / 48_000 * 0.7


def test_silero_noise_then_speech_in_one_stream(piper_voice: Any) -> None:
    """Hum under the voice does not hide speech, and is not an utterance of its own."""
    speech = b"".join(piper_sentences(piper_voice, "Please turn the lights off."))
    mono48 = np.frombuffer(convert(AudioClip(speech, KOKORO_RATE, 1), 48_000, 1).pcm, "<i2").astype(float)
    hum = np.frombuffer(noise.hum(seconds=2 + len(mono48) / 48_000 + 1, level=0.1), "<i2").astype(float)
    mix = hum.copy()
    mix[96_000:96_000 + len(mono48)] += mono48
    endpointer = Endpointer(EndpointConfig(vad="silero", silence_ms=600))
    events = []
    for i, frame in enumerate(frames_of(np.clip(mix, -32768, 32767).astype("<i2").tobytes())):
        started, done = endpointer.feed(frame, i * 0.02)
        if started or done:
            events.append(("start", i * 0.02) if started else ("end", done.duration))  # type: ignore[union-attr]
    assert [e[0] for e in events] == ["start", "end"]
    assert 1.8 < events[0][1] < 2.4  # the speech, not the hum before it


def test_unknown_engine_is_refused() -> None:
    with pytest.raises(ValueError, match="silero, webrtc"):
        make_vad("rnnoise")
