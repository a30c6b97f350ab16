"""RVC WebUI (RVC-Project's Gradio app, port 7865) behind the same VoiceConverter interface.

Minimal and version-bound on purpose. The WebUI has no stable API, only the Gradio event handlers
of its page. What this adapter relies on, checked against RVC-Project's infer-web.py and Gradio
3.x's routes (the WebUI pins Gradio 3): named endpoints called as `POST /run/{api_name}` with
`{"data": [...]}`; `infer_change_voice(model, protect, protect)` loads a model and returns its
index path as its 4th output; `infer_convert` takes 12 inputs, the audio as a *server-side path*,
and returns `[info, {"name": <server path>, ...}]`; `POST /upload` stores a file and returns its
server path; `GET /file=<path>` serves results. Forks reorder these inputs: /health reports
"degraded" when the page has no infer_convert. Not verified against a live WebUI.
"""

from __future__ import annotations

import asyncio
import logging
import os
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp

from services.errors import PermanentError, ServiceError, TransientError
from services.health.monitor import ProbeResult
from services.http import request_bytes, request_json
from services.speech import audio
from services.speech.audio import AudioClip, AudioFormatError
from services.speech.base import VoiceConverter
from services.speech.guard import Guard
from services.speech.rvc_python import MAX_AUDIO_BYTES, SERVICE

log = logging.getLogger(__name__)


class RvcWebUIConverter(VoiceConverter):
    """Drives the WebUI's single-file inference tab (RVC_WEBUI_URL)."""

    def __init__(self, session: aiohttp.ClientSession, base_url: str, *, model: str, api_key: str = "",
                 timeout: float = 30.0, guard: Guard | None = None, transpose: int = 0,
                 f0_method: str = "rmvpe", index_rate: float = 0.75, filter_radius: int = 3,
                 resample_sr: int = 0, rms_mix_rate: float = 0.25, protect: float = 0.33) -> None:
        super().__init__(guard or Guard(SERVICE))
        self._session = session
        self._base = base_url.rstrip("/")
        self.model = model
        self._timeout = timeout
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else None
        self._settings = (transpose, f0_method, index_rate, filter_radius, resample_sr, rms_mix_rate, protect)
        self._lock = asyncio.Lock()  # the loaded model is global state of the WebUI
        self._index_path: str | None = None  # None: model not loaded by us yet

    async def convert(self, clip: AudioClip) -> AudioClip:
        if not clip.frames:
            raise PermanentError(SERVICE, "nothing to convert (empty clip)")
        wav = audio.wav_encode(clip)
        return await self.guard.call(lambda: self._convert_once(wav))

    async def _convert_once(self, wav: bytes) -> AudioClip:
        async with self._lock:
            if self._index_path is None:
                await self._load_model()
            try:
                return await self._infer(wav)
            except ServiceError:
                self._index_path = None  # reload next time: the WebUI may have restarted without it
                raise

    async def _load_model(self) -> None:
        if not self.model:
            raise PermanentError(SERVICE, "RVC_MODEL must name the WebUI model (e.g. voice.pth)")
        names = await self._model_names()
        model = self.model if self.model in names else f"{self.model}.pth"
        if model not in names:
            raise PermanentError(SERVICE, f"model {self.model!r} is not in the WebUI "
                                          f"(it has: {', '.join(names) or 'none'})")
        protect = self._settings[-1]
        outputs = await self._run("infer_change_voice", [model, protect, protect], timeout=self._timeout * 4)
        index = outputs[3] if len(outputs) > 3 else None
        value = index.get("value") if isinstance(index, dict) else None
        self._index_path = value if isinstance(value, str) else ""
        log.info("RVC WebUI model %s loaded (index: %s)", model, self._index_path or "none")

    async def _infer(self, wav: bytes) -> AudioClip:
        transpose, f0_method, index_rate, filter_radius, resample_sr, rms_mix_rate, protect = self._settings
        async with self._server_path(wav) as path:
            outputs = await self._run("infer_convert", [
                0, path, transpose, None, f0_method, "", self._index_path, index_rate,
                filter_radius, resample_sr, rms_mix_rate, protect,
            ])
        result = outputs[1] if len(outputs) > 1 else None
        location = (result.get("name") or result.get("path")) if isinstance(result, dict) else None
        if not isinstance(location, str):
            info = outputs[0] if outputs else ""
            raise PermanentError(SERVICE, f"WebUI returned no audio: {str(info).strip()[:200]}")
        return await self._download(location)

    @asynccontextmanager
    async def _server_path(self, wav: bytes) -> AsyncIterator[str]:
        """The clip as a path the WebUI can open: uploaded, or a local temp file (same host only)."""
        uploaded = await self._upload(wav)
        if uploaded is not None:
            yield uploaded
            return
        local = await asyncio.to_thread(_write_temp, wav)
        log.debug("Gradio has no /upload; passing local file %s (works only on the same host)", local)
        try:
            yield local
        finally:
            await asyncio.to_thread(os.unlink, local)

    async def _upload(self, wav: bytes) -> str | None:
        """Store the clip on the WebUI host via /upload; None when this Gradio has no such route."""
        form = aiohttp.FormData()
        form.add_field("files", wav, filename="speech.wav", content_type="audio/wav")
        try:
            paths = await request_json(self._session, "POST", f"{self._base}/upload", service=SERVICE,
                                       timeout=self._timeout, headers=self._headers, data=form)
        except PermanentError as exc:
            if exc.status in (404, 405):
                return None
            raise
        if not isinstance(paths, list) or not paths or not isinstance(paths[0], str):
            raise TransientError(SERVICE, "upload answer has an unexpected shape")
        return paths[0]

    async def _download(self, location: str) -> AudioClip:
        data = await request_bytes(self._session, "GET", f"{self._base}/file={location}", service=SERVICE,
                                   timeout=self._timeout, headers=self._headers, max_bytes=MAX_AUDIO_BYTES)
        try:
            return audio.wav_decode(data)
        except AudioFormatError as exc:
            raise PermanentError(SERVICE, f"WebUI output is not WAV ({exc}); set its output format to wav") from None

    async def _run(self, api_name: str, data: list[Any], *, timeout: float | None = None) -> list[Any]:
        """Call a named Gradio endpoint; Gradio reports handler crashes as 500 {"error": ...}."""
        answer = await request_json(self._session, "POST", f"{self._base}/run/{api_name}", service=SERVICE,
                                    timeout=timeout or self._timeout, headers=self._headers, json={"data": data})
        outputs = answer.get("data") if isinstance(answer, dict) else None
        if not isinstance(outputs, list):
            raise TransientError(SERVICE, f"{api_name} answer has no data list")
        return outputs

    async def _model_names(self) -> list[str]:
        """`infer_refresh` returns a dropdown update whose choices are the model files."""
        outputs = await self._run("infer_refresh", [])
        update = outputs[0] if outputs else None
        choices = update.get("choices") if isinstance(update, dict) else None
        if not isinstance(choices, list):
            raise TransientError(SERVICE, "infer_refresh answer has no model choices")
        # Gradio 3 lists values; Gradio 4 lists [label, value] pairs.
        return [str(c[-1] if isinstance(c, list) and c else c) for c in choices]

    async def models(self) -> list[str]:
        return await self._model_names()

    async def probe(self) -> ProbeResult:
        """/config lists the page's named endpoints: no infer_convert means an incompatible WebUI."""
        config = await request_json(self._session, "GET", f"{self._base}/config", service=SERVICE,
                                    timeout=self._timeout, headers=self._headers, max_bytes=16 * 1024 * 1024)
        names = {d.get("api_name") for d in config.get("dependencies", []) if isinstance(d, dict)} \
            if isinstance(config, dict) else set()
        missing = {"infer_convert", "infer_change_voice", "infer_refresh"} - names
        if missing:
            return ProbeResult("degraded", f"WebUI lacks endpoints {', '.join(sorted(missing))}")
        version = config.get("version", "?")
        return ProbeResult("healthy", f"RVC WebUI (Gradio {version})")


def _write_temp(data: bytes) -> str:
    with tempfile.NamedTemporaryFile(prefix="rvc-", suffix=".wav", delete=False) as handle:
        handle.write(data)
        return handle.name
