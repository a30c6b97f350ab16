"""Real speech, really transcribed: Piper speaks through a Kokoro-compatible server, our clients
carry the audio the way the voice loop will (24 kHz stream -> Discord's 48 kHz stereo -> 16 kHz
WAV), and faster-whisper (tiny.en) behind the OpenAI and whisper.cpp formats writes it back down.
Offline; about 5 s on two cores. Deselect with `-m "not slow"`.
"""

from __future__ import annotations

import re

import pytest

from devtools.fakes.engines import PiperKokoroServer, WhisperEngineServer, load_piper, load_whisper
from services.speech import audio
from services.speech.audio import AudioClip, StreamConverter
from services.speech.kokoro import KokoroTTS
from services.speech.whisper_cpp import WhisperCppSTT
from services.speech.whisper_openai import OpenAIWhisperSTT

pytestmark = pytest.mark.slow

SENTENCE = "Please remind me to water the garden tomorrow morning."
KEY_WORDS = {"remind", "water", "garden", "tomorrow", "morning"}


@pytest.fixture(scope="module")
def piper_voice():
    return load_piper()


@pytest.fixture(scope="module")
def whisper_model():
    return load_whisper()


def words(text: str) -> set[str]:
    return set(re.findall(r"[a-z']+", text.lower()))


async def test_piper_speech_streamed_through_kokoro_api_is_transcribed_back(session, piper_voice, whisper_model):
    async with PiperKokoroServer(piper_voice) as tts_server, WhisperEngineServer(whisper_model) as stt_server:
        tts = KokoroTTS(session, tts_server.url, voice="af_heart", timeout=30)
        to_discord = StreamConverter(tts.sample_rate, 1)  # as the voice loop plays it
        played = b""
        async for chunk in tts.stream(SENTENCE):
            played += to_discord.feed(chunk)
        played += to_discord.flush()
        heard = AudioClip(played, 48_000, 2)  # as a Discord receive sink would hand it back
        assert 2.0 < heard.duration < 8.0

        stt = OpenAIWhisperSTT(session, stt_server.url, model=stt_server.model_name, language="en", timeout=30)
        transcript = await stt.transcribe(heard)
    assert len(KEY_WORDS & words(transcript.text)) >= 4, transcript.text


async def test_whole_clip_wav_through_whisper_cpp_format(session, piper_voice, whisper_model):
    async with PiperKokoroServer(piper_voice) as tts_server, WhisperEngineServer(whisper_model) as stt_server:
        clip = await KokoroTTS(session, tts_server.url, timeout=30).synthesize("Turn off the kitchen lights.")
        assert clip.sample_rate == 24_000
        stt = WhisperCppSTT(session, stt_server.url, language="en", timeout=30)
        transcript = await stt.transcribe(AudioClip(audio.to_discord(clip), 48_000, 2))
    assert {"kitchen", "lights"} <= words(transcript.text), transcript.text


async def test_silence_never_reaches_the_real_engine(session, whisper_model):
    async with WhisperEngineServer(whisper_model) as stt_server:
        stt = OpenAIWhisperSTT(session, stt_server.url, model=stt_server.model_name)
        transcript = await stt.transcribe(AudioClip(bytes(48_000 * 4 * 2), 48_000, 2))
        assert transcript.dropped == "silence" and stt_server.count("transcribe") == 0
