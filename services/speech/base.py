"""The three speech capabilities the voice features use, whatever server provides them.

TTS turns text into speech (whole clip, or streamed PCM so the first words play early), STT turns
an utterance into text (with silence and Whisper's stock inventions filtered out here, once, for
every server), and a VoiceConverter re-voices a clip (RVC). Each also answers a health probe, and
can be warmed: a cheap request when a member starts talking, so the request that matters finds
an open connection in the session's pool instead of paying for a new one (TCP, and TLS).
"""

from __future__ import annotations

import logging
import time
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from dataclasses import dataclass

from services.errors import ServiceError
from services.health.monitor import ProbeResult
from services.speech import audio
from services.speech.audio import AudioClip
from services.speech.guard import Guard
from services.speech.hallucination import is_hallucination

log = logging.getLogger(__name__)

__all__ = ["STT", "TTS", "AudioClip", "ProbeResult", "SpeechService", "Transcript", "VoiceConverter"]


WARM_INTERVAL = 10.0  # seconds; aiohttp keeps an idle pooled connection for 15


class SpeechService(ABC):
    """What every speech client shares: its health-store name, its guard, and a probe."""

    def __init__(self, guard: Guard) -> None:
        self.guard = guard
        self._warmed_at: float | None = None

    async def warm(self) -> bool:
        """Make sure a connection to the server is open; at most once per WARM_INTERVAL. Never raises
        a service error (a server that is down is found, and reported, by the request that matters)."""
        now = time.monotonic()
        if self._warmed_at is not None and now - self._warmed_at < WARM_INTERVAL:
            return False
        self._warmed_at = now
        try:
            await self._warm()
        except ServiceError as exc:
            log.debug("Warming %s failed: %s", self.service, exc)
        return True

    async def _warm(self) -> None:
        """One cheap request to the server (its health endpoint); nothing for clients without one."""
        return None

    @property
    def service(self) -> str:
        """Name in the health store ("tts:kokoro", "stt:whisper", "rvc")."""
        return self.guard.service

    async def start(self) -> None:
        """Restore the circuit state of the previous run (called once the loop runs)."""
        await self.guard.restore()

    @abstractmethod
    async def probe(self) -> ProbeResult:
        """Cheap check that the server is up and usable; raises ServiceError when it is not."""


class TTS(SpeechService):
    """Text to speech."""

    #: Rate of the mono s16le chunks `stream` yields.
    sample_rate: int

    @abstractmethod
    async def synthesize(self, text: str, *, voice: str | None = None, speed: float | None = None) -> AudioClip:
        """The whole utterance as one clip."""

    @abstractmethod
    def stream(self, text: str, *, voice: str | None = None, speed: float | None = None) -> AsyncIterator[bytes]:
        """Mono s16le PCM at `sample_rate` as it is produced; every chunk holds whole samples."""

    @abstractmethod
    async def voices(self) -> list[str]:
        """Voice names the server offers."""


@dataclass(frozen=True)
class Transcript:
    """What was said. `text` is empty when nothing usable was heard; `dropped` says why."""

    text: str
    raw: str = ""
    dropped: str | None = None  # "silence", "too short" or "hallucination"

    def __bool__(self) -> bool:
        return bool(self.text)


class STT(SpeechService):
    """Speech to text. Subclasses implement `_transcribe_wav`; this class decides what to send."""

    def __init__(self, guard: Guard, *, language: str = "", prompt: str = "",
                 min_rms: float = 0.003, min_duration: float = 0.2) -> None:
        super().__init__(guard)
        self.language = language
        self.prompt = prompt
        self.min_rms = min_rms  # about -50 dBFS: below it Whisper only ever invents text
        self.min_duration = min_duration

    async def transcribe(self, clip: AudioClip, *, language: str | None = None,
                         prompt: str | None = None) -> Transcript:
        """Transcribe any clip (Discord's 48 kHz stereo included); silence is never sent."""
        speech = audio.convert(clip, audio.WHISPER_RATE, 1)
        if speech.duration < self.min_duration:
            return Transcript("", dropped="too short")
        if audio.rms(speech.pcm) < self.min_rms:
            return Transcript("", dropped="silence")
        raw = await self.guard.call(lambda: self._transcribe_wav(
            audio.wav_encode(speech),
            self.language if language is None else language,
            self.prompt if prompt is None else prompt,
        ))
        text = " ".join(raw.split())
        if is_hallucination(text):
            log.debug("Dropped Whisper hallucination %r", text)
            return Transcript("", raw=raw, dropped="hallucination")
        return Transcript(text, raw=raw)

    @abstractmethod
    async def _transcribe_wav(self, wav: bytes, language: str, prompt: str) -> str:
        """One request with a 16 kHz mono s16 WAV; returns the server's text (may be empty)."""


class VoiceConverter(SpeechService):
    """Re-voices a clip (RVC). Model and parameters are global state of the server."""

    @abstractmethod
    async def convert(self, clip: AudioClip) -> AudioClip:
        """The same speech in the configured model's voice, at whatever rate the server answers."""

    @abstractmethod
    async def models(self) -> list[str]:
        """Model names the server can load."""
