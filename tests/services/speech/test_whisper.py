"""STT clients against local servers speaking the OpenAI transcription and whisper.cpp formats."""

from __future__ import annotations

import numpy as np
import pytest

from devtools.fakes.speech_servers import FakeOpenAIWhisper, FakeWhisperCpp, Fault, tone
from services.errors import PermanentError, TransientError
from services.speech.audio import AudioClip
from services.speech.whisper_cpp import WhisperCppSTT
from services.speech.whisper_openai import OpenAIWhisperSTT

MODEL = "Systran/faster-whisper-small"


def discord_clip(seconds: float = 1.0, level: float = 0.3) -> AudioClip:
    """What a Discord receive sink hands over: 48 kHz stereo s16le."""
    mono = np.frombuffer(tone(seconds, 48_000, level=level), dtype="<i2")
    return AudioClip(np.column_stack([mono, mono]).astype("<i2").tobytes(), 48_000, 2)


@pytest.fixture
async def openai_server():
    async with FakeOpenAIWhisper(("Turn the lights off.",)) as fake:
        yield fake


@pytest.fixture
def openai_stt(session, openai_server, make_guard):
    return OpenAIWhisperSTT(session, openai_server.url, model=MODEL, language="en", prompt="Names: Zephyr",
                            timeout=5, guard=make_guard("stt:whisper"))


async def test_sends_16k_mono_wav_with_model_language_and_prompt(openai_stt, openai_server, health):
    transcript = await openai_stt.transcribe(discord_clip(1.0))
    assert transcript.text == "Turn the lights off."
    assert transcript and transcript.dropped is None
    fields = openai_server.last("transcribe").fields
    assert {k: v for k, v in fields.items() if k != "file"} == {
        "model": MODEL, "language": "en", "prompt": "Names: Zephyr", "response_format": "json", "temperature": "0"}
    assert (fields["file"].filename, fields["file"].content_type) == ("speech.wav", "audio/wav")
    rate, channels, pcm = openai_server.received[0]
    assert (rate, channels, len(pcm)) == (16_000, 1, 32_000)
    assert (await health.get("stt:whisper")).status == "healthy"


async def test_per_call_language_and_prompt_and_empty_ones_are_not_sent(openai_stt, openai_server):
    await openai_stt.transcribe(discord_clip(0.5), language="", prompt="")
    fields = openai_server.last("transcribe").fields
    assert "language" not in fields and "prompt" not in fields
    await openai_stt.transcribe(discord_clip(0.5), language="de")
    assert openai_server.last("transcribe").fields["language"] == "de"


async def test_silence_and_blips_are_never_sent(openai_stt, openai_server):
    silence = AudioClip(bytes(48_000 * 4), 48_000, 2)
    assert (await openai_stt.transcribe(silence)).dropped == "silence"
    assert (await openai_stt.transcribe(discord_clip(0.1))).dropped == "too short"
    assert openai_server.count("transcribe") == 0


async def test_whisper_inventions_are_dropped_but_kept_as_raw(session, make_guard):
    async with FakeOpenAIWhisper((" Thank you.", " [BLANK_AUDIO]", " Thank you, that was quick.")) as fake:
        stt = OpenAIWhisperSTT(session, fake.url, model=MODEL, guard=make_guard("stt:whisper"))
        first, second, third = [await stt.transcribe(discord_clip()) for _ in range(3)]
    assert (first.text, first.raw, first.dropped) == ("", " Thank you.", "hallucination")
    assert second.dropped == "hallucination"
    assert (third.text, third.dropped) == ("Thank you, that was quick.", None)


async def test_server_errors_are_retried_and_a_missing_model_is_not(openai_stt, openai_server, sleeps):
    openai_server.script("transcribe", Fault(502, text="Bad Gateway"))
    assert (await openai_stt.transcribe(discord_clip())).text == "Turn the lights off."
    assert openai_server.count("transcribe") == 2 and len(sleeps.delays) == 1

    openai_server.models = ["other/model"]
    with pytest.raises(PermanentError, match="not installed") as info:
        await openai_stt.transcribe(discord_clip())
    assert info.value.status == 404 and openai_server.count("transcribe") == 3


async def test_bad_audio_answer_is_permanent(openai_stt, openai_server):
    openai_server.script("transcribe", Fault(400, {"detail": "Invalid audio file: could not decode"}))
    with pytest.raises(PermanentError, match="could not decode"):
        await openai_stt.transcribe(discord_clip())


async def test_a_non_json_answer_is_transient(openai_stt, openai_server):
    openai_server.script("transcribe", *[Fault(200, text="<html>proxy login</html>")] * 3)
    with pytest.raises(TransientError, match="not JSON"):
        await openai_stt.transcribe(discord_clip())


async def test_base_url_may_end_with_v1(session, openai_server):
    stt = OpenAIWhisperSTT(session, openai_server.url + "/v1/", model=MODEL)
    assert (await stt.transcribe(discord_clip())).text == "Turn the lights off."
    assert (await stt.probe()).status == "healthy"


async def test_probe_reports_a_missing_model_as_degraded(openai_stt, openai_server):
    assert (await openai_stt.probe()).status == "healthy"
    openai_server.models = ["Systran/faster-whisper-large-v3"]
    result = await openai_stt.probe()
    assert result.status == "degraded" and MODEL in result.detail


async def test_probe_without_health_route_falls_back_to_models(openai_stt, openai_server):
    openai_server.script("health", Fault(404, {"detail": "Not Found"}))
    assert (await openai_stt.probe()).status == "healthy"
    assert openai_server.count("models") == 1
    openai_server.script("health", Fault(500, {"detail": "oops"}))
    with pytest.raises(TransientError):
        await openai_stt.probe()


# --- whisper.cpp -------------------------------------------------------------------------------

async def test_whisper_cpp_inference_fields_and_segment_lines(session, make_guard):
    async with FakeWhisperCpp((" Set a timer", " for ten minutes.")) as fake:
        stt = WhisperCppSTT(session, fake.url, language="", prompt="kitchen", guard=make_guard("stt:whisper"))
        transcript = await stt.transcribe(discord_clip())
        fields = fake.last("inference").fields
    assert transcript.text == "Set a timer for ten minutes."
    assert {k: v for k, v in fields.items() if k != "file"} == {
        "response_format": "json", "temperature": "0.0", "language": "auto", "prompt": "kitchen"}
    assert fake.received[0][:2] == (16_000, 1)


async def test_whisper_cpp_error_with_status_200_is_a_permanent_failure(session, make_guard, sleeps):
    async with FakeWhisperCpp() as fake:
        fake.script("inference", Fault(200, {"error": "failed to read WAV file"}))
        stt = WhisperCppSTT(session, fake.url, guard=make_guard("stt:whisper"))
        with pytest.raises(PermanentError, match="failed to read WAV file"):
            await stt.transcribe(discord_clip())
        assert fake.count("inference") == 1 and sleeps.delays == []


async def test_whisper_cpp_probe_with_and_without_health(session):
    async with FakeWhisperCpp() as fake:
        assert (await WhisperCppSTT(session, fake.url).probe()).status == "healthy"
    async with FakeWhisperCpp(has_health=False) as old:
        result = await WhisperCppSTT(session, old.url).probe()
        assert result.status == "healthy" and "no /health" in result.detail
        assert old.count("index") == 1
