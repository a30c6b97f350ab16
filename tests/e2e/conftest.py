"""Fixtures of the end-to-end tests: real speech engines behind Kokoro's and Whisper's APIs, and a voice bot."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from devtools.fakes.engines import PiperKokoroServer, WhisperEngineServer
from devtools.fakes.llm_server import FakeLLMServer

WHISPER_MODEL = "Systran/faster-whisper-tiny.en"


@pytest.fixture
async def kokoro(piper_voice: Any) -> AsyncIterator[PiperKokoroServer]:
    async with PiperKokoroServer(piper_voice) as server:
        yield server


@pytest.fixture
async def whisper(whisper_model: Any) -> AsyncIterator[WhisperEngineServer]:
    async with WhisperEngineServer(whisper_model, model_name=WHISPER_MODEL) as server:
        yield server


@pytest.fixture
def voice_bot(bot_factory: Any, kokoro: PiperKokoroServer, whisper: WhisperEngineServer, llm: FakeLLMServer):
    async def start(**overrides: Any) -> Any:
        settings = {"kokoro_api_url": kokoro.url, "whisper_api_url": whisper.url, "whisper_model": WHISPER_MODEL,
                    "ollama_host": llm.url, "ollama_model": "llama3.2:latest", "voice_silence_ms": 400,
                    **overrides}
        return await bot_factory(extensions=["cogs.voice", "cogs.privacy"], **settings)
    return start
