"""OpenAI-compatible transcription servers: speaches, faster-whisper-server, and OpenAI itself.

`POST /v1/audio/transcriptions`, multipart: `file` (our 16 kHz mono WAV), `model`, and optional
`language` and `prompt`; the JSON answer is `{"text": ...}`.
"""

from __future__ import annotations

import aiohttp

from services.errors import PermanentError, TransientError
from services.health.monitor import ProbeResult
from services.http import read_limited, request, request_bytes, request_json
from services.speech.base import STT
from services.speech.guard import Guard

SERVICE = "stt:whisper"
MAX_ANSWER_BYTES = 1024 * 1024
WARM_TIMEOUT = 5.0


class OpenAIWhisperSTT(STT):
    """Client for one OpenAI-compatible Whisper server (WHISPER_API_URL, with or without /v1)."""

    def __init__(self, session: aiohttp.ClientSession, base_url: str, *, model: str, language: str = "",
                 prompt: str = "", timeout: float = 30.0, guard: Guard | None = None, api_key: str = "",
                 min_rms: float = 0.003, min_duration: float = 0.2) -> None:
        super().__init__(guard or Guard(SERVICE), language=language, prompt=prompt,
                         min_rms=min_rms, min_duration=min_duration)
        self._session = session
        base = base_url.rstrip("/")
        self._root = base.removesuffix("/v1")
        self._v1 = f"{self._root}/v1"
        self.model = model
        self._timeout = timeout
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else None

    async def _transcribe_wav(self, wav: bytes, language: str, prompt: str) -> str:
        form = aiohttp.FormData()
        form.add_field("file", wav, filename="speech.wav", content_type="audio/wav")
        form.add_field("model", self.model)
        form.add_field("response_format", "json")
        form.add_field("temperature", "0")
        if language:
            form.add_field("language", language)
        if prompt:
            form.add_field("prompt", prompt)
        data = await request_json(self._session, "POST", f"{self._v1}/audio/transcriptions", service=SERVICE,
                                  timeout=self._timeout, data=form, headers=self._headers,
                                  max_bytes=MAX_ANSWER_BYTES)
        return transcript_text(data, SERVICE)

    async def _warm(self) -> None:
        """GET /health; a 404 (servers without one) still leaves the connection open."""
        try:
            await request_bytes(self._session, "GET", f"{self._root}/health", service=SERVICE,
                                timeout=WARM_TIMEOUT, headers=self._headers, max_bytes=64 * 1024)
        except PermanentError as exc:
            if exc.status != 404:
                raise

    async def probe(self) -> ProbeResult:
        """/health where the server has one (speaches, faster-whisper-server), then the model list."""
        try:
            async with request(self._session, "GET", f"{self._root}/health", service=SERVICE,
                               timeout=self._timeout, headers=self._headers) as response:
                await read_limited(response, SERVICE, 64 * 1024)  # "OK" or JSON, depending on the server
        except PermanentError as exc:
            if exc.status != 404:
                raise
        models = await self.models()
        if models and self.model not in models:
            return ProbeResult("degraded", f"model {self.model} is not among the server's {len(models)} models")
        return ProbeResult("healthy", f"model {self.model}")

    async def models(self) -> list[str]:
        """Model ids from GET /v1/models (`{"data": [{"id": ...}]}`); empty when the server lists none."""
        data = await request_json(self._session, "GET", f"{self._v1}/models", service=SERVICE,
                                  timeout=self._timeout, headers=self._headers, max_bytes=MAX_ANSWER_BYTES)
        items = data.get("data") if isinstance(data, dict) else None
        if not isinstance(items, list):
            return []
        return [m["id"] for m in items if isinstance(m, dict) and isinstance(m.get("id"), str)]


def transcript_text(data: object, service: str) -> str:
    """`{"text": ...}`; an `{"error": ...}` body (whisper.cpp sends it with status 200) is a failure."""
    if isinstance(data, dict):
        if data.get("error"):
            error = data["error"]
            message = error.get("message", error) if isinstance(error, dict) else error
            raise PermanentError(service, f"server could not transcribe: {message}")
        if isinstance(data.get("text"), str):
            return data["text"]
    raise TransientError(service, f"answer has no text: {str(data)[:120]}")
