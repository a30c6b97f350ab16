"""rvc-python's API server (`python -m rvc_python api`): RVC voice conversion over HTTP.

`POST /convert {"audio_data": <base64 WAV>}` answers `audio/wav` at the model's rate. The loaded
model (`POST /models/{name}`) and the parameters (`POST /params`) are global to the server, so
every call here holds one lock: a conversion never runs while another request swaps the model.
"""

from __future__ import annotations

import asyncio
import base64
import logging
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import aiohttp

from services.errors import PermanentError, ServiceError, TransientError
from services.health.monitor import ProbeResult
from services.http import request_bytes, request_json
from services.speech import audio
from services.speech.audio import AudioClip, AudioFormatError
from services.speech.base import VoiceConverter
from services.speech.guard import Guard

log = logging.getLogger(__name__)

SERVICE = "rvc"
MAX_AUDIO_BYTES = 64 * 1024 * 1024  # a few minutes of 48 kHz float WAV


class RvcPythonConverter(VoiceConverter):
    """Client for one rvc-python API server (RVC_API_URL)."""

    def __init__(self, session: aiohttp.ClientSession, base_url: str, *, model: str = "",
                 api_key: str = "", timeout: float = 30.0, guard: Guard | None = None,
                 params: Mapping[str, Any] | None = None) -> None:
        super().__init__(guard or Guard(SERVICE))
        self._session = session
        self._base = base_url.rstrip("/")
        self.model = model
        self.params = MappingProxyType(dict(params or {}))
        self._timeout = timeout
        # rvc-python has no auth of its own; the key is for a reverse proxy in front of it.
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else None
        self._lock = asyncio.Lock()
        self._prepared = False

    async def convert(self, clip: AudioClip) -> AudioClip:
        if not clip.frames:
            raise PermanentError(SERVICE, "nothing to convert (empty clip)")
        payload = {"audio_data": base64.b64encode(audio.wav_encode(clip)).decode("ascii")}
        return await self.guard.call(lambda: self._convert_once(payload))

    async def _convert_once(self, payload: dict[str, str]) -> AudioClip:
        async with self._lock:
            if not self._prepared:
                await self._prepare()
            try:
                return await self._post_convert(payload)
            except ServiceError:
                self._prepared = False  # the server may have restarted without our model: reload
                raise

    async def _prepare(self) -> None:
        """Load the configured model and push parameters; redone after a failure or restart."""
        if self.model:
            available = await self._list_models()
            if self.model not in available:
                raise PermanentError(SERVICE, f"model {self.model!r} is not on the server "
                                              f"(it has: {', '.join(available) or 'none'})")
            await request_json(self._session, "POST", f"{self._base}/models/{self.model}", service=SERVICE,
                               timeout=self._timeout * 4, headers=self._headers)
            log.info("RVC model %s loaded", self.model)
        if self.params:
            await request_json(self._session, "POST", f"{self._base}/params", service=SERVICE,
                               timeout=self._timeout, headers=self._headers, json={"params": dict(self.params)})
        self._prepared = True

    async def _post_convert(self, payload: dict[str, str]) -> AudioClip:
        data = await request_bytes(self._session, "POST", f"{self._base}/convert", service=SERVICE,
                                   timeout=self._timeout, headers=self._headers, max_bytes=MAX_AUDIO_BYTES, json=payload)
        try:
            return audio.wav_decode(data)
        except AudioFormatError as exc:
            raise TransientError(SERVICE, f"answer is not usable WAV audio ({exc})") from None

    async def models(self) -> list[str]:
        return await self._list_models()  # read-only: no need to wait for a running conversion

    async def _list_models(self) -> list[str]:
        data = await request_json(self._session, "GET", f"{self._base}/models", service=SERVICE,
                                  timeout=self._timeout, headers=self._headers)
        items = data.get("models") if isinstance(data, dict) else None
        if not isinstance(items, list):
            raise TransientError(SERVICE, "model list has an unexpected shape")
        return [str(m) for m in items]

    async def probe(self) -> ProbeResult:
        """The model list: reachable, and the configured model present (else "degraded")."""
        available = await self.models()
        if self.model and self.model not in available:
            return ProbeResult("degraded", f"model {self.model} not on the server ({len(available)} models)")
        return ProbeResult("healthy", f"{len(available)} models")
