"""Endpointing on real speech (Piper) and on what must never start an utterance (silence, hiss)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from devtools.fakes.engines import KOKORO_RATE, piper_sentences
from services.speech.audio import AudioClip, convert
from services.voice.endpoint import FRAME_BYTES, EndpointConfig, Endpointer, Utterance

pytestmark = pytest.mark.slow  # loads Piper once per run (~2 s)


def to_frames(pcm24k_mono: bytes) -> list[bytes]:
    stereo = convert(AudioClip(pcm24k_mono, KOKORO_RATE, 1), 48_000, 2).pcm
    stereo += bytes(-len(stereo) % FRAME_BYTES)
    return [stereo[i:i + FRAME_BYTES] for i in range(0, len(stereo), FRAME_BYTES)]


def run(endpointer: Endpointer, frames: list[bytes], start: float = 0.0) -> tuple[list[float], list[Utterance]]:
    starts, ends = [], []
    for i, frame in enumerate(frames):
        now = start + i * 0.02
        started, done = endpointer.feed(frame, now)
        if started:
            starts.append(now)
        if done:
            ends.append(done)
    return starts, ends


@pytest.fixture(scope="module")
def sentence(piper_voice: Any) -> list[bytes]:
    return to_frames(b"".join(piper_sentences(piper_voice, "Please turn the lights off in the kitchen.")))


SILENT = bytes(FRAME_BYTES)


def test_speech_followed_by_silence_ends_after_the_silence_setting(sentence: list[bytes]) -> None:
    endpointer = Endpointer(EndpointConfig(silence_ms=600))
    frames = [SILENT] * 25 + sentence + [SILENT] * 50
    starts, ends = run(endpointer, frames)
    assert len(starts) == 1 and 0.3 < starts[0] < 0.9
    [utterance] = ends
    assert not utterance.cut
    assert 0.59 <= utterance.ended_at - utterance.speech_end_at <= 0.63
    speech_seconds = len(sentence) * 0.02
    assert speech_seconds * 0.7 < utterance.duration < speech_seconds + 0.4
    assert utterance.started_at < starts[0]  # the pre-roll keeps the first syllable


def test_the_end_is_found_by_polling_when_packets_stop(sentence: list[bytes]) -> None:
    endpointer = Endpointer(EndpointConfig(silence_ms=500))
    _, ends = run(endpointer, sentence)
    assert ends == [] and endpointer.speaking
    last = endpointer.last_voiced_at  # the clip ends with a little quiet: not voiced
    assert last > (len(sentence) - 1) * 0.02 - 0.4
    assert endpointer.poll(last + 0.3) is None
    utterance = endpointer.poll(last + 2.0)
    assert utterance is not None and not endpointer.speaking


def test_long_speech_is_cut_at_the_maximum(sentence: list[bytes]) -> None:
    endpointer = Endpointer(EndpointConfig(max_utterance_s=1.0))
    _, ends = run(endpointer, sentence * 3)
    assert ends and ends[0].cut and abs(ends[0].duration - 1.0) < 0.05


def test_silence_hiss_and_clicks_never_start_an_utterance() -> None:
    rng = np.random.default_rng(1)
    hiss = [(rng.normal(0, 40, FRAME_BYTES // 2)).astype("<i2").tobytes() for _ in range(100)]
    click = [np.full(FRAME_BYTES // 2, 12000, dtype="<i2").tobytes()]
    endpointer = Endpointer()
    starts, ends = run(endpointer, [SILENT] * 50 + hiss + click + [SILENT] * 50)
    assert starts == [] and ends == [] and not endpointer.speaking
    assert endpointer.poll(100.0) is None
