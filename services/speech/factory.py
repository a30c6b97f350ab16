"""Builds the speech clients from settings; an unconfigured capability is None, not a stub.

Retry (API_RETRY_*) and circuit (LLM_CIRCUIT_*) rules are the LLM providers' own, so every
external service behaves the same way when it fails.
"""

from __future__ import annotations

from dataclasses import dataclass

import aiohttp

from config.settings import Settings
from services.health.monitor import Probe
from services.resilience import CircuitBreaker, RetryPolicy
from services.speech import kokoro, rvc_python, whisper_openai
from services.speech.base import STT, TTS, VoiceConverter
from services.speech.guard import Guard
from services.speech.kokoro import KokoroTTS
from services.speech.rvc_python import RvcPythonConverter
from services.speech.rvc_webui import RvcWebUIConverter
from services.speech.whisper_cpp import WhisperCppSTT
from services.speech.whisper_openai import OpenAIWhisperSTT
from services.storage import HealthStore


@dataclass
class SpeechServices:
    """The three capabilities; each is None when its server is not configured."""

    tts: TTS | None
    stt: STT | None
    rvc: VoiceConverter | None

    async def start(self) -> None:
        for service in (self.tts, self.stt, self.rvc):
            if service is not None:
                await service.start()

    def probes(self) -> list[Probe]:
        """Health probes for /health; unconfigured ones are reported as disabled with the reason."""
        return [
            Probe(kokoro.SERVICE, self.tts.probe if self.tts else None, "KOKORO_API_URL is empty"),
            Probe(whisper_openai.SERVICE, self.stt.probe if self.stt else None, "WHISPER_API_URL is empty"),
            Probe(rvc_python.SERVICE, self.rvc.probe if self.rvc else None,
                  "RVC_API_URL and RVC_WEBUI_URL are empty"),
        ]


def build_speech(settings: Settings, session: aiohttp.ClientSession, health: HealthStore | None) -> SpeechServices:
    return SpeechServices(build_tts(settings, session, health), build_stt(settings, session, health),
                          build_rvc(settings, session, health))


def build_tts(settings: Settings, session: aiohttp.ClientSession, health: HealthStore | None) -> TTS | None:
    if not settings.kokoro_api_url:
        return None
    return KokoroTTS(session, settings.kokoro_api_url, voice=settings.kokoro_voice, speed=settings.kokoro_speed,
                     timeout=settings.api_request_timeout, guard=_guard(kokoro.SERVICE, settings, health))


def build_stt(settings: Settings, session: aiohttp.ClientSession, health: HealthStore | None) -> STT | None:
    if not settings.whisper_api_url:
        return None
    guard = _guard(whisper_openai.SERVICE, settings, health)
    if settings.stt_engine == "whisper_cpp":
        return WhisperCppSTT(session, settings.whisper_api_url, language=settings.whisper_language,
                             prompt=settings.whisper_prompt, timeout=settings.api_request_timeout, guard=guard)
    return OpenAIWhisperSTT(session, settings.whisper_api_url, model=settings.whisper_model,
                            language=settings.whisper_language, prompt=settings.whisper_prompt,
                            timeout=settings.api_request_timeout, guard=guard)


def build_rvc(settings: Settings, session: aiohttp.ClientSession,
              health: HealthStore | None) -> VoiceConverter | None:
    """rvc-python's API when RVC_API_URL is set, else the WebUI adapter when RVC_WEBUI_URL is."""
    guard = _guard(rvc_python.SERVICE, settings, health)
    if settings.rvc_api_url:
        return RvcPythonConverter(session, settings.rvc_api_url, model=settings.rvc_model,
                                  api_key=settings.rvc_api_key, timeout=settings.api_request_timeout, guard=guard)
    if settings.rvc_webui_url:
        return RvcWebUIConverter(session, settings.rvc_webui_url, model=settings.rvc_model,
                                 api_key=settings.rvc_api_key, timeout=settings.api_request_timeout, guard=guard)
    return None


def _guard(service: str, settings: Settings, health: HealthStore | None) -> Guard:
    policy = RetryPolicy(attempts=settings.api_retry_attempts, base_delay=settings.api_retry_delay,
                         max_delay=settings.api_retry_max_delay)
    breaker = None if health is None else CircuitBreaker(
        health, service, failure_threshold=settings.llm_circuit_failure_threshold,
        cooldown=settings.llm_circuit_cooldown, max_cooldown=settings.llm_circuit_cooldown_max)
    return Guard(service, breaker=breaker, policy=policy)
