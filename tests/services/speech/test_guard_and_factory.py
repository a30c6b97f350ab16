"""The guard's retry/circuit rules, and the factory and container wiring from settings."""

from __future__ import annotations

import aiohttp
import pytest

from config.settings import load_settings
from services.container import Services
from services.errors import PermanentError, TransientError
from services.resilience import CircuitOpen
from services.speech.factory import build_speech
from services.speech.kokoro import KokoroTTS
from services.speech.rvc_python import RvcPythonConverter
from services.speech.rvc_webui import RvcWebUIConverter
from services.speech.whisper_cpp import WhisperCppSTT
from services.speech.whisper_openai import OpenAIWhisperSTT
from services.storage import Database
from services.storage.backend import SqliteBackend


class Flaky:
    """An operation that fails with the given errors, then answers."""

    def __init__(self, *errors: Exception) -> None:
        self.errors = list(errors)
        self.calls = 0

    async def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "ok"


async def test_transient_errors_are_retried_permanent_ones_are_not(make_guard, sleeps, health):
    guard = make_guard("tts:kokoro", attempts=3)
    flaky = Flaky(TransientError("tts:kokoro", "reset"), TransientError("tts:kokoro", "reset"))
    assert await guard.call(flaky) == "ok"
    assert flaky.calls == 3 and len(sleeps.delays) == 2
    assert (await health.get("tts:kokoro")).status == "healthy"

    bad_request = Flaky(PermanentError("tts:kokoro", "bad voice", status=400))
    with pytest.raises(PermanentError):
        await guard.call(bad_request)
    assert bad_request.calls == 1


async def test_open_circuit_is_not_retried_and_recovers_after_cooldown(make_guard, health, sleeps):
    guard = make_guard("stt:whisper", attempts=5, threshold=2, cooldown=0.0)
    with pytest.raises(TransientError):
        await guard.call(Flaky(*[TransientError("stt:whisper", "down")] * 5))
    assert (await health.get("stt:whisper")).circuit_state == "open"
    # cooldown 0: the next call is the half-open trial, and its success closes the circuit
    assert await guard.call(Flaky()) == "ok"
    assert (await health.get("stt:whisper")).circuit_state == "closed"

    closed_for_long = make_guard("rvc", attempts=5, threshold=1, cooldown=3600)
    with pytest.raises(TransientError):
        await closed_for_long.call(Flaky(TransientError("rvc", "down")))
    never_called = Flaky()
    with pytest.raises(CircuitOpen):
        await closed_for_long.call(never_called)
    assert never_called.calls == 0


async def test_stream_retries_only_before_the_first_chunk(make_guard):
    guard = make_guard("tts:kokoro", attempts=3)
    opened = []

    def open_stream():
        attempt = len(opened)
        opened.append(attempt)

        async def gen():
            if attempt == 0:
                raise TransientError("tts:kokoro", "refused")
            yield b"ab"
            if attempt == 1:
                raise TransientError("tts:kokoro", "cut off")
            yield b"cd"

        return gen()

    with pytest.raises(TransientError, match="cut off"):
        got = [chunk async for chunk in guard.stream(open_stream)]
    assert opened == [0, 1]  # retried the refusal, not the cut after audio
    got = [chunk async for chunk in guard.stream(open_stream)]
    assert got == [b"ab", b"cd"]


async def test_restored_circuit_state_survives_a_restart(make_guard, health):
    first_run = make_guard("tts:kokoro", attempts=1, threshold=1, cooldown=3600)
    with pytest.raises(TransientError):
        await first_run.call(Flaky(TransientError("tts:kokoro", "down")))
    second_run = make_guard("tts:kokoro", attempts=1, threshold=1, cooldown=3600)
    await second_run.restore()
    with pytest.raises(CircuitOpen):
        await second_run.call(Flaky())


def _settings(**env: str):
    return load_settings({"DISCORD_TOKEN": "t" * 24, **env})


async def test_nothing_configured_means_none_and_disabled_probes(session):
    speech = build_speech(_settings(), session, None)
    assert (speech.tts, speech.stt, speech.rvc) == (None, None, None)
    probes = {p.name: p for p in speech.probes()}
    assert set(probes) == {"tts:kokoro", "stt:whisper", "rvc"}
    assert all(p.check is None for p in probes.values())
    assert probes["tts:kokoro"].disabled_reason == "KOKORO_API_URL is empty"


async def test_each_engine_is_chosen_from_settings(session):
    speech = build_speech(_settings(KOKORO_API_URL="http://127.0.0.1:8880", KOKORO_VOICE="af_sky",
                                    WHISPER_API_URL="http://127.0.0.1:8000", RVC_API_URL="http://127.0.0.1:5050",
                                    RVC_WEBUI_URL="http://127.0.0.1:7865", RVC_MODEL="alice"), session, None)
    assert isinstance(speech.tts, KokoroTTS) and speech.tts.voice == "af_sky"
    assert isinstance(speech.stt, OpenAIWhisperSTT) and speech.stt.model == "Systran/faster-whisper-small"
    assert isinstance(speech.rvc, RvcPythonConverter) and speech.rvc.model == "alice"
    assert all(p.check is not None for p in speech.probes())

    other = build_speech(_settings(STT_ENGINE="whisper_cpp", WHISPER_API_URL="http://127.0.0.1:8080",
                                   RVC_WEBUI_URL="http://127.0.0.1:7865"), session, None)
    assert isinstance(other.stt, WhisperCppSTT)
    assert isinstance(other.rvc, RvcWebUIConverter)


async def test_container_exposes_tts_stt_rvc_and_starts_them(tmp_path):
    settings = _settings(DATABASE_PATH=str(tmp_path / "bot.db"), KOKORO_API_URL="http://127.0.0.1:9")
    db = await Database.open(settings.database_path)
    try:
        async with aiohttp.ClientSession() as session:
            services = Services(settings, session, SqliteBackend(db))
            await services.speech.start()
            assert isinstance(services.tts, KokoroTTS) and services.tts.guard.breaker is not None
            assert services.stt is None and services.rvc is None
            assert services.tts.service == "tts:kokoro"
    finally:
        await db.close()
