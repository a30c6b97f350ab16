"""Kokoro-FastAPI (OpenAI-style /v1/audio/speech), the self-hosted TTS most users run.

Streaming asks for `response_format=pcm, stream=true`: raw s16le mono 24 kHz, sent sentence by
sentence, so the voice loop can start playing while the rest is synthesized. Whole clips ask for
WAV, whose header carries the real rate. Voices may be mixed ("af_bella+af_sky", "a(0.7)+b(0.3)").
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator

import aiohttp

from services.errors import PermanentError, TransientError
from services.health.monitor import ProbeResult
from services.http import connection_error, read_limited, request, request_bytes, request_json
from services.speech.audio import AudioClip, AudioFormatError, SampleAligner, wav_decode
from services.speech.base import TTS
from services.speech.guard import Guard

log = logging.getLogger(__name__)

SERVICE = "tts:kokoro"
KOKORO_RATE = 24_000
WARM_TIMEOUT = 5.0
_VOICE_PART = re.compile(r"^\s*([A-Za-z0-9_]+)\s*(?:\(\s*[0-9.]+\s*\))?\s*$")


def voice_names(spec: str) -> list[str]:
    """The base voices of a (possibly mixed) voice spec: "af_bella(0.7)+af_sky" -> [af_bella, af_sky]."""
    names = []
    for part in re.split(r"[+-]", spec):
        match = _VOICE_PART.match(part)
        if not match:
            raise ValueError(f"not a Kokoro voice or mix: {spec!r}")
        names.append(match.group(1))
    return names


class KokoroTTS(TTS):
    """Client for one Kokoro-FastAPI server."""

    sample_rate = KOKORO_RATE

    def __init__(self, session: aiohttp.ClientSession, base_url: str, *, voice: str = "af_heart",
                 speed: float = 1.0, timeout: float = 30.0, guard: Guard | None = None,
                 model: str = "kokoro", max_audio_seconds: float = 300.0) -> None:
        super().__init__(guard or Guard(SERVICE))
        self._session = session
        self._base = base_url.rstrip("/")
        self.voice = voice
        self.speed = speed
        self.model = model
        self._timeout = timeout
        # A sentence is seconds of audio; the cap stops a broken server from filling memory.
        self._max_bytes = int(max_audio_seconds * KOKORO_RATE * 2) + 4096

    # --- synthesis -------------------------------------------------------------------------

    async def synthesize(self, text: str, *, voice: str | None = None, speed: float | None = None) -> AudioClip:
        body = self._body(text, voice, speed, response_format="wav", stream=False)
        return await self.guard.call(lambda: self._fetch_wav(body))

    def stream(self, text: str, *, voice: str | None = None, speed: float | None = None) -> AsyncIterator[bytes]:
        body = self._body(text, voice, speed, response_format="pcm", stream=True)
        return self.guard.stream(lambda: self._stream_pcm(body))

    def _body(self, text: str, voice: str | None, speed: float | None, *, response_format: str,
              stream: bool) -> dict[str, object]:
        if not text.strip():
            raise PermanentError(SERVICE, "nothing to say (empty text)")
        return {"model": self.model, "input": text, "voice": voice or self.voice,
                "speed": self.speed if speed is None else speed,
                "response_format": response_format, "stream": stream}

    async def _fetch_wav(self, body: dict[str, object]) -> AudioClip:
        async with request(self._session, "POST", f"{self._base}/v1/audio/speech", service=SERVICE,
                           timeout=self._timeout, json=body) as response:
            _expect_audio(response)
            try:
                data = await read_limited(response, SERVICE, self._max_bytes)
            except (TimeoutError, aiohttp.ClientError) as exc:
                raise connection_error(SERVICE, exc) from exc
        try:
            return wav_decode(data)
        except AudioFormatError as exc:
            raise TransientError(SERVICE, f"answer is not usable WAV audio ({exc})") from None

    async def _stream_pcm(self, body: dict[str, object]) -> AsyncIterator[bytes]:
        timeout = aiohttp.ClientTimeout(total=self._timeout * 4, sock_connect=self._timeout,
                                        sock_read=self._timeout)
        aligner, received = SampleAligner(), 0
        async with request(self._session, "POST", f"{self._base}/v1/audio/speech", service=SERVICE,
                           timeout=timeout, json=body) as response:
            _expect_audio(response)
            try:
                async for chunk in response.content.iter_any():
                    received += len(chunk)
                    if received > self._max_bytes:
                        raise PermanentError(SERVICE, f"audio longer than {self._max_bytes} bytes")
                    whole = aligner.feed(chunk)
                    if whole:
                        yield whole
            except (TimeoutError, aiohttp.ClientError) as exc:
                raise connection_error(SERVICE, exc) from exc
        if aligner.pending:
            log.debug("Kokoro stream ended mid-sample; dropped %d byte", aligner.pending)

    # --- voices and health -----------------------------------------------------------------

    async def _warm(self) -> None:
        await request_bytes(self._session, "GET", f"{self._base}/health", service=SERVICE, timeout=WARM_TIMEOUT,
                            max_bytes=64 * 1024)

    async def voices(self) -> list[str]:
        data = await request_json(self._session, "GET", f"{self._base}/v1/audio/voices", service=SERVICE,
                                  timeout=self._timeout, max_bytes=1024 * 1024)
        return parse_voices(data)

    async def probe(self) -> ProbeResult:
        """/health, then the voice list: a missing configured voice is "degraded", not "down"."""
        health = await request_json(self._session, "GET", f"{self._base}/health", service=SERVICE,
                                    timeout=self._timeout, max_bytes=64 * 1024)
        if isinstance(health, dict) and health.get("status") not in (None, "healthy", "ok"):
            return ProbeResult("degraded", f"server says {health.get('status')}")
        available = await self.voices()
        try:
            wanted = voice_names(self.voice)
        except ValueError as exc:
            return ProbeResult("degraded", str(exc))
        missing = [v for v in wanted if v not in available]
        if missing:
            return ProbeResult("degraded", f"voice {', '.join(missing)} not on the server ({len(available)} voices)")
        return ProbeResult("healthy", f"{len(available)} voices")


def parse_voices(data: object) -> list[str]:
    """`{"voices": ["af_heart", ...]}` (before 0.3) or `{"voices": [{"id": ..., "name": ...}]}`."""
    if not isinstance(data, dict) or not isinstance(data.get("voices"), list):
        raise TransientError(SERVICE, "voice list has an unexpected shape")
    names = []
    for item in data["voices"]:
        if isinstance(item, str):
            names.append(item)
        elif isinstance(item, dict) and isinstance(item.get("id") or item.get("name"), str):
            names.append(item.get("id") or item["name"])
    return names


def _expect_audio(response: aiohttp.ClientResponse) -> None:
    """A 200 JSON body is a proxy or a different server, not audio: say so instead of playing it."""
    if response.content_type in ("application/json", "text/html"):
        raise PermanentError(SERVICE, f"expected audio but got {response.content_type}; "
                                      "is KOKORO_API_URL the Kokoro-FastAPI server?")
