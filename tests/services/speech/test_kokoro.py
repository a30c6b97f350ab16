"""Kokoro TTS client against a local server speaking Kokoro-FastAPI's wire format."""

from __future__ import annotations

import asyncio

import pytest

from devtools.fakes.speech_servers import FakeKokoro, Fault, tone
from services.errors import PermanentError, TransientError
from services.resilience import CircuitOpen
from services.speech.kokoro import KokoroTTS, parse_voices, voice_names


@pytest.fixture
async def kokoro():
    async with FakeKokoro() as fake:
        yield fake


@pytest.fixture
def client(session, kokoro, make_guard):
    return KokoroTTS(session, kokoro.url + "/", voice="af_heart", speed=1.0, timeout=5,
                     guard=make_guard("tts:kokoro"))


async def collect(stream) -> tuple[bytes, list[int]]:
    chunks = [chunk async for chunk in stream]
    return b"".join(chunks), [len(c) for c in chunks]


async def test_stream_yields_whole_samples_of_24k_pcm(client, kokoro, health):
    text = "Hello there, this is a streamed sentence."
    pcm, sizes = await collect(client.stream(text))
    assert pcm == tone(len(text) * 0.05)
    assert sizes and all(size % 2 == 0 for size in sizes)
    assert client.sample_rate == 24_000
    body = kokoro.last("speech").json
    assert body == {"model": "kokoro", "input": text, "voice": "af_heart", "speed": 1.0,
                    "response_format": "pcm", "stream": True}
    assert (await health.get("tts:kokoro")).status == "healthy"


async def test_a_chunk_that_splits_a_sample_is_realigned(client, kokoro):
    kokoro.script("speech", Fault(hold_after=4801))  # the server pauses after half a sample
    text = "An odd number of bytes arrives first."
    stream = client.stream(text)
    first = await anext(stream)
    assert len(first) % 2 == 0 and 0 < len(first) <= 4800
    kokoro.release.set()
    rest, sizes = await collect(stream)
    assert first + rest == tone(len(text) * 0.05)
    assert all(size % 2 == 0 for size in sizes)


async def test_synthesize_decodes_kokoro_wav_with_placeholder_sizes(client, kokoro):
    clip = await client.synthesize("Whole clip please.", voice="af_bella(0.7)+af_sky(0.3)", speed=2.0)
    assert (clip.sample_rate, clip.channels) == (24_000, 1)
    assert clip.duration == pytest.approx(FakeKokoro.expected_seconds("Whole clip please.", 2.0))
    body = kokoro.last("speech").json
    assert (body["response_format"], body["stream"], body["voice"], body["speed"]) == (
        "wav", False, "af_bella(0.7)+af_sky(0.3)", 2.0)


async def test_unknown_voice_is_permanent_not_retried_and_not_a_service_fault(client, kokoro, health, sleeps):
    with pytest.raises(PermanentError, match="Voice 'nobody' not found") as info:
        await collect(client.stream("Hi", voice="nobody"))
    assert info.value.status == 400
    assert kokoro.count("speech") == 1 and sleeps.delays == []
    assert await health.get("tts:kokoro") is None  # a bad request says nothing about the server


async def test_server_errors_are_retried_with_backoff(client, kokoro, sleeps):
    kokoro.script("speech", Fault(503, {"detail": "warming up"}), Fault(500, text="Internal Server Error"))
    pcm, _ = await collect(client.stream("Third time lucky."))
    assert len(pcm) == len(tone(len("Third time lucky.") * 0.05))
    assert kokoro.count("speech") == 3
    assert len(sleeps.delays) == 2


async def test_retry_after_is_honoured(client, kokoro, sleeps):
    kokoro.script("speech", Fault(429, {"detail": "busy"}, headers={"Retry-After": "7"}))
    await client.synthesize("Patience.")
    assert sleeps.delays[0] >= 7


async def test_repeated_failures_open_the_circuit_and_then_fail_fast(session, kokoro, make_guard, health):
    client = KokoroTTS(session, kokoro.url, timeout=5, guard=make_guard("tts:kokoro", attempts=2, threshold=2))
    kokoro.script("speech", *[Fault(500, {"detail": "boom"})] * 2)
    with pytest.raises(TransientError):
        await client.synthesize("Down we go.")
    assert (await health.get("tts:kokoro")).circuit_state == "open"
    with pytest.raises(CircuitOpen):
        await collect(client.stream("Still down?"))
    assert kokoro.count("speech") == 2  # the open circuit never reached the server


async def test_a_cut_before_any_audio_is_retried(client, kokoro):
    kokoro.script("speech", Fault(cut_after=0))
    pcm, _ = await collect(client.stream("Try again."))
    assert pcm == tone(len("Try again.") * 0.05)
    assert kokoro.count("speech") == 2


async def test_a_cut_mid_stream_reaches_the_caller_after_the_audio_so_far(client, kokoro, health):
    kokoro.script("speech", Fault(cut_after=9001))
    received = []
    with pytest.raises(TransientError, match=r"cut off|closed"):
        async for chunk in client.stream("A long sentence that will not finish because the server dies."):
            received.append(chunk)
    assert 0 < sum(map(len, received)) <= 9000
    assert all(len(c) % 2 == 0 for c in received)
    assert kokoro.count("speech") == 1  # audio was already played: no silent restart
    assert (await health.get("tts:kokoro")).consecutive_failures == 1


async def test_stopping_early_closes_the_stream_cleanly(client, kokoro):
    stream = client.stream("Barge in after the first chunk of this sentence, please.")
    first = await anext(stream)
    await stream.aclose()
    assert first
    pcm, _ = await collect(client.stream("Next one works."))  # connection pool and circuit still fine
    assert pcm


async def test_a_stalled_server_times_out(session, kokoro, make_guard):
    client = KokoroTTS(session, kokoro.url, timeout=0.3, guard=make_guard("tts:kokoro", attempts=1))
    kokoro.script("speech", Fault(delay=30))
    with pytest.raises(TransientError, match="timed out"):
        await asyncio.wait_for(client.synthesize("Anyone there?"), 10)


async def test_audio_longer_than_the_cap_is_refused(session, kokoro, make_guard):
    client = KokoroTTS(session, kokoro.url, timeout=5, guard=make_guard("tts:kokoro"), max_audio_seconds=0.5)
    with pytest.raises(PermanentError, match="longer than"):
        await collect(client.stream("This sentence makes far more than half a second of audio."))
    with pytest.raises(PermanentError, match="larger than"):
        await client.synthesize("This sentence makes far more than half a second of audio.")


async def test_a_json_answer_is_not_played_as_audio(client, kokoro):
    kokoro.script("speech", Fault(200, {"status": "ok"}))
    with pytest.raises(PermanentError, match="expected audio"):
        await client.synthesize("Hello")


async def test_empty_text_is_refused_locally(client, kokoro):
    with pytest.raises(PermanentError, match="empty"):
        await client.synthesize("   ")
    assert kokoro.count("speech") == 0


@pytest.mark.parametrize("shape", ["new", "old"])
async def test_voices_in_both_list_shapes(session, shape):
    async with FakeKokoro(("af_heart", "bf_emma"), voices_shape=shape) as fake:
        assert await KokoroTTS(session, fake.url).voices() == ["af_heart", "bf_emma"]


def test_parse_voices_rejects_other_shapes():
    with pytest.raises(TransientError):
        parse_voices(["af_heart"])


def test_voice_names_of_mixes():
    assert voice_names("af_heart") == ["af_heart"]
    assert voice_names("af_bella+af_sky") == ["af_bella", "af_sky"]
    assert voice_names("af_bella(0.7) + af_sky(0.3)") == ["af_bella", "af_sky"]
    with pytest.raises(ValueError):
        voice_names("af_bella++")


async def test_probe_healthy_degraded_and_down(session, kokoro):
    assert (await KokoroTTS(session, kokoro.url, voice="af_bella+af_sky").probe()).status == "healthy"
    missing = await KokoroTTS(session, kokoro.url, voice="af_heart+zz_nobody").probe()
    assert (missing.status, missing.detail) == ("degraded", "voice zz_nobody not on the server (4 voices)")
    kokoro.health_status = "espeak error"
    with pytest.raises(TransientError) as info:
        await KokoroTTS(session, kokoro.url).probe()
    assert info.value.status == 503


async def test_probe_of_a_dead_server_is_a_transient_error(session):
    async with FakeKokoro() as fake:
        url = fake.url
    with pytest.raises(TransientError, match="cannot connect"):
        await KokoroTTS(session, url, timeout=2).probe()
