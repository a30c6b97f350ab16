"""Local stand-ins for the RVC servers, on the same scriptable base as the other speech fakes.

  FakeRvcPython     rvc-python API: /convert, /models, /models/{name}, /params; tracks overlap.
  FakeRvcWebUI      RVC WebUI on Gradio 3: /config, /upload, /run/{api_name}, /file={path}.
"""

from __future__ import annotations

import asyncio
import base64
import json
import wave
from typing import Any

import numpy as np
from aiohttp import web

from devtools.fakes.speech_servers import FakeServer, float_wav_bytes, read_multipart, read_wav, wav_bytes


def _resample(pcm: bytes, rate_in: int, rate_out: int) -> bytes:
    """Linear interpolation: crude, but the fake only needs the right length and rate."""
    data = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
    n_out = round(len(data) * rate_out / rate_in)
    positions = np.linspace(0, max(len(data) - 1, 0), n_out)
    return np.interp(positions, np.arange(len(data)), data).round().astype("<i2").tobytes()


class FakeRvcPython(FakeServer):
    """rvc-python's API: one global model and parameter set, output at the model's rate."""

    def __init__(self, models: tuple[str, ...] = ("alice", "bob"), *, output_rate: int = 40_000,
                 float_output: bool = False, convert_delay: float = 0.0, gain: float = 1.0) -> None:
        super().__init__()
        self.gain = gain  # applied to the converted voice, so a test can tell it from the unconverted one
        self.models = list(models)
        self.loaded: str | None = None
        self.params: dict[str, Any] = {"f0method": "rmvpe", "f0up_key": 0, "index_rate": 0.5, "filter_radius": 3,
                                       "resample_sr": 0, "rms_mix_rate": 0.25, "protect": 0.33}
        self.output_rate = output_rate
        self.float_output = float_output
        self.convert_delay = convert_delay
        self.active = 0
        self.max_active = 0
        self.received: list[tuple[int, int]] = []  # (rate, channels) of each input
        self.app.router.add_post("/convert", self._convert)
        self.app.router.add_get("/models", self._models)
        self.app.router.add_post("/models/{name}", self._load)
        self.app.router.add_get("/params", self._get_params)
        self.app.router.add_post("/params", self._set_params)

    async def _convert(self, request: web.Request) -> web.Response:
        self.active += 1
        self.max_active = max(self.max_active, self.active)
        try:
            body = await request.json()
            fault = await self.record("convert", request, json_body={"audio_data": "..."})
            if fault and (error := self.error_response(fault)):
                return error
            if self.convert_delay:
                await asyncio.sleep(self.convert_delay)
            if self.loaded is None:
                return web.json_response({"detail": "An error occurred: No model loaded"}, status=500)
            try:
                rate, channels, pcm = read_wav(base64.b64decode(body["audio_data"], validate=True))
            except (ValueError, wave.Error, EOFError, KeyError) as exc:
                return web.json_response({"detail": f"An error occurred: {exc}"}, status=500)
            self.received.append((rate, channels))
            if channels != 1:
                return web.json_response({"detail": "An error occurred: fake expects mono"}, status=500)
            out = _resample(pcm, rate, self.output_rate)
            if self.gain != 1.0:
                out = (np.frombuffer(out, dtype="<i2") * self.gain).round().astype("<i2").tobytes()
            data = float_wav_bytes(out, self.output_rate) if self.float_output else wav_bytes(out, self.output_rate)
            return web.Response(body=data, content_type="audio/wav")
        finally:
            self.active -= 1

    async def _models(self, request: web.Request) -> web.Response:
        fault = await self.record("models", request)
        if fault and (error := self.error_response(fault)):
            return error
        return web.json_response({"models": self.models})

    async def _load(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        fault = await self.record("load", request)
        if fault and (error := self.error_response(fault)):
            return error
        if name not in self.models:
            return web.json_response({"detail": f"Model {name} not found"}, status=400)
        self.loaded = name
        return web.json_response({"message": f"Model {name} loaded successfully"})

    async def _get_params(self, request: web.Request) -> web.Response:
        await self.record("get_params", request)
        return web.json_response(self.params)

    async def _set_params(self, request: web.Request) -> web.Response:
        body = await request.json()
        await self.record("set_params", request, json_body=body)
        unknown = set(body.get("params", {})) - set(self.params)
        if unknown:
            return web.json_response({"detail": f"unexpected keyword argument {sorted(unknown)[0]!r}"}, status=400)
        self.params.update(body["params"])
        return web.json_response({"message": "Parameters updated successfully"})


class FakeRvcWebUI(FakeServer):
    """RVC-Project's WebUI on Gradio 3: named endpoints under /run/, uploads, /file= downloads."""

    def __init__(self, models: tuple[str, ...] = ("alice.pth", "bob.pth"), *, upload: bool = True,
                 endpoints: tuple[str, ...] = ("infer_convert", "infer_change_voice", "infer_refresh"),
                 output_rate: int = 40_000) -> None:
        super().__init__()
        self.models = list(models)
        self.endpoints = endpoints
        self.output_rate = output_rate
        self.loaded: str | None = None
        self.files: dict[str, bytes] = {}
        self.convert_inputs: list[list[Any]] = []
        self.app.router.add_get("/config", self._config)
        if upload:
            self.app.router.add_post("/upload", self._upload)
        self.app.router.add_post("/run/{api_name}", self._run)
        self.app.router.add_get("/file={path:.*}", self._file)

    async def _config(self, request: web.Request) -> web.Response:
        await self.record("config", request)
        return web.json_response({"version": "3.34.0", "mode": "blocks", "components": [],
                                  "dependencies": [{"api_name": name, "targets": [i]}
                                                   for i, name in enumerate(self.endpoints)]})

    async def _upload(self, request: web.Request) -> web.Response:
        fields = await read_multipart(request)
        await self.record("upload", request, fields=fields)
        path = f"/tmp/gradio/{len(self.files):08x}/{fields['files'].filename}"
        self.files[path] = fields["files"].data
        return web.json_response([path])

    async def _run(self, request: web.Request) -> web.Response:
        name = request.match_info["api_name"]
        body = await request.json()
        fault = await self.record(name, request, json_body=body)
        if fault and (error := self.error_response(fault)):
            return error
        if name not in self.endpoints:
            return web.json_response({"detail": "Not Found"}, status=404)
        data = body["data"]
        if name == "infer_refresh":
            outputs: list[Any] = [{"choices": self.models, "__type__": "update"},
                                  {"choices": ["logs/alice/added_IVF.index"], "__type__": "update"}]
        elif name == "infer_change_voice":
            self.loaded = data[0] if data[0] in self.models else None
            index = {"value": f"logs/{data[0].removesuffix('.pth')}/added_IVF.index", "__type__": "update"}
            outputs = [{"visible": True, "maximum": 0, "__type__": "update"},
                       {"visible": True, "value": data[1], "__type__": "update"},
                       {"visible": True, "value": data[2], "__type__": "update"}, index, index]
        else:
            outputs = await self._infer(data)
        return web.json_response({"data": outputs, "is_generating": False, "duration": 0.01,
                                  "average_duration": 0.01})

    async def _infer(self, data: list[Any]) -> list[Any]:
        self.convert_inputs.append(data)
        if len(data) != 12:
            raise web.HTTPInternalServerError(text=json.dumps({"error": None}), content_type="application/json")
        if self.loaded is None:
            return ["Traceback (most recent call last): net_g is None", None]
        path = data[1]
        audio_bytes = self.files.get(path)
        if audio_bytes is None:
            try:
                audio_bytes = await asyncio.to_thread(_read_file, path)
            except OSError:
                return [f"Traceback (most recent call last): No such file: {path}", None]
        rate, _, pcm = read_wav(audio_bytes)
        out_path = f"/tmp/gradio/out/{len(self.files):08x}/audio.wav"
        self.files[out_path] = wav_bytes(_resample(pcm, rate, self.output_rate), self.output_rate)
        return ["Success.\nIndex:\nlogs/alice/added_IVF.index\nTime:\nnpy: 0.1s, f0: 0.2s, infer: 0.3s.",
                {"name": out_path, "data": None, "is_file": True, "orig_name": "audio.wav"}]

    async def _file(self, request: web.Request) -> web.Response:
        path = request.match_info["path"]
        await self.record("file", request)
        if path not in self.files:
            return web.json_response({"detail": f"File not found: {path}."}, status=404)
        return web.Response(body=self.files[path], content_type="audio/wav")


def _read_file(path: str) -> bytes:
    with open(path, "rb") as handle:
        return handle.read()
