"""The TTS and STT servers restart (at the service level: the voice cog is tested on its own).

While they are down every call fails fast with a typed, transient error and health says so; once
they listen again on the same port, calls succeed and health is healthy again, without a bot restart.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
import numpy as np
import pytest

from config.settings import load_settings
from devtools.fakes.speech_servers import FakeKokoro, FakeOpenAIWhisper, tone
from services.errors import TransientError
from services.resilience import CircuitOpen
from services.speech.audio import AudioClip
from services.speech.factory import build_speech
from services.storage import Database, HealthStore
from services.storage.sqlite.health import SqliteHealthStore


def discord_clip(seconds: float = 1.0) -> AudioClip:
    mono = np.frombuffer(tone(seconds, 48_000), dtype="<i2")
    return AudioClip(np.column_stack([mono, mono]).astype("<i2").tobytes(), 48_000, 2)


@pytest.fixture
async def health(tmp_path) -> AsyncIterator[HealthStore]:
    db = await Database.open(tmp_path / "bot.db")
    try:
        yield SqliteHealthStore(db)
    finally:
        await db.close()


async def test_tts_and_stt_servers_restart(health: HealthStore) -> None:
    kokoro, whisper = await FakeKokoro().__aenter__(), await FakeOpenAIWhisper(("Back again.",)).__aenter__()
    settings = load_settings({"DISCORD_TOKEN": "x", "KOKORO_API_URL": kokoro.url, "WHISPER_API_URL": whisper.url,
                              "API_RETRY_ATTEMPTS": "2", "API_RETRY_DELAY": "0.01", "API_RETRY_MAX_DELAY": "0.05",
                              "LLM_CIRCUIT_FAILURE_THRESHOLD": "2", "LLM_CIRCUIT_COOLDOWN": "0.3",
                              "API_REQUEST_TIMEOUT": "3"})
    async with aiohttp.ClientSession() as session:
        speech = build_speech(settings, session, health)
        assert speech.tts is not None and speech.stt is not None
        try:
            assert (await speech.tts.synthesize("Hello there")).pcm
            assert (await speech.stt.transcribe(discord_clip())).text == "Back again."

            await kokoro.__aexit__(None, None, None)
            await whisper.__aexit__(None, None, None)
            for _ in range(3):  # refused connections, then the open circuit: fast, typed, transient
                with pytest.raises((TransientError, CircuitOpen)):
                    await speech.tts.synthesize("Hello there")
                with pytest.raises((TransientError, CircuitOpen)):
                    await speech.stt.transcribe(discord_clip())
            for name in ("tts:kokoro", "stt:whisper"):
                row = await health.get(name)
                assert row is not None and row.status in ("down", "degraded"), row

            restarted_kokoro, restarted_whisper = FakeKokoro(), FakeOpenAIWhisper(("Back again.",))
            restarted_kokoro.port, restarted_whisper.port = kokoro.port, whisper.port
            kokoro, whisper = await restarted_kokoro.__aenter__(), await restarted_whisper.__aenter__()

            async def recovered() -> bool:
                try:
                    clip = await speech.tts.synthesize("Hello there")
                    text = await speech.stt.transcribe(discord_clip())
                except CircuitOpen:
                    return False  # still cooling down (0.3 s)
                return bool(clip.pcm) and text.text == "Back again."

            for _ in range(100):  # polls (up to 5 s) until the circuit's 0.3 s cooldown lets a trial through
                if await recovered():
                    break
                await asyncio.sleep(0.05)
            else:
                pytest.fail("speech did not recover within 5 s of the servers coming back")
            for name in ("tts:kokoro", "stt:whisper"):
                row = await health.get(name)
                assert row is not None and row.status == "healthy", row
        finally:
            await kokoro.__aexit__(None, None, None)
            await whisper.__aexit__(None, None, None)
