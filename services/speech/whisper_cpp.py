"""whisper.cpp's own HTTP server (`whisper-server`): `POST /inference`, multipart.

It reads only WAV (16 kHz unless started with --convert), which is what we send. Its failures
("failed to read WAV file", "failed to process audio") arrive as `{"error": ...}` with HTTP 200;
its text holds one line per segment. Older builds have no /health.
"""

from __future__ import annotations

import aiohttp

from services.errors import PermanentError
from services.health.monitor import ProbeResult
from services.http import read_limited, request, request_bytes, request_json
from services.speech.base import STT
from services.speech.guard import Guard
from services.speech.whisper_openai import MAX_ANSWER_BYTES, SERVICE, transcript_text


class WhisperCppSTT(STT):
    """Client for one whisper.cpp server (WHISPER_API_URL with STT_ENGINE=whisper_cpp)."""

    def __init__(self, session: aiohttp.ClientSession, base_url: str, *, language: str = "",
                 prompt: str = "", timeout: float = 30.0, guard: Guard | None = None,
                 min_rms: float = 0.003, min_duration: float = 0.2) -> None:
        super().__init__(guard or Guard(SERVICE), language=language, prompt=prompt,
                         min_rms=min_rms, min_duration=min_duration)
        self._session = session
        self._base = base_url.rstrip("/")
        self._timeout = timeout

    async def _transcribe_wav(self, wav: bytes, language: str, prompt: str) -> str:
        form = aiohttp.FormData()
        form.add_field("file", wav, filename="speech.wav", content_type="audio/wav")
        form.add_field("response_format", "json")
        form.add_field("temperature", "0.0")
        form.add_field("language", language or "auto")  # the server's own default is "en"
        if prompt:
            form.add_field("prompt", prompt)
        data = await request_json(self._session, "POST", f"{self._base}/inference", service=SERVICE,
                                  timeout=self._timeout, data=form, max_bytes=MAX_ANSWER_BYTES)
        return " ".join(transcript_text(data, SERVICE).split())

    async def _warm(self) -> None:
        """GET /health; a 404 (old builds) still leaves the connection open."""
        try:
            await request_bytes(self._session, "GET", f"{self._base}/health", service=SERVICE, timeout=5.0,
                                max_bytes=64 * 1024)
        except PermanentError as exc:
            if exc.status != 404:
                raise

    async def probe(self) -> ProbeResult:
        """GET /health (`{"status":"ok"}`); builds without it answer 404, so try the index page."""
        try:
            data = await request_json(self._session, "GET", f"{self._base}/health", service=SERVICE,
                                      timeout=self._timeout, max_bytes=64 * 1024)
        except PermanentError as exc:
            if exc.status != 404:
                raise
            async with request(self._session, "GET", f"{self._base}/", service=SERVICE,
                               timeout=self._timeout) as response:
                await read_limited(response, SERVICE, 256 * 1024)
            return ProbeResult("healthy", "whisper.cpp (no /health on this build)")
        status = data.get("status") if isinstance(data, dict) else None
        if status not in (None, "ok"):
            return ProbeResult("degraded", f"server says {status}")
        return ProbeResult("healthy", "whisper.cpp")
