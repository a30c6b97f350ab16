"""Local stand-ins for the speech servers, speaking their real wire formats on 127.0.0.1.

  FakeKokoro        Kokoro-FastAPI: POST /v1/audio/speech (pcm/wav, streamed chunked or whole; WAV
                    headers as its ffmpeg writer makes them: sizes 0xFFFFFFFF and a LIST chunk),
                    GET /v1/audio/voices (new {id,name} objects, or old strings), /health, /v1/models.
  FakeOpenAIWhisper speaches / faster-whisper-server: multipart POST /v1/audio/transcriptions,
                    GET /health ("OK"), GET /v1/models.
  FakeWhisperCpp    whisper.cpp server: multipart POST /inference (errors as 200 {"error": ...}),
                    GET /health (or 404 on old builds), GET /.
  (RVC fakes, on the same base: devtools/fakes/rvc_servers.py.)

Every server records requests and can be scripted per route: `script(route, Fault(...), ...)`
replaces the next answers with a status and body, a delay, or a connection cut after N bytes.
The audio itself is a deterministic tone, so tests can check lengths and rates exactly.
"""

from __future__ import annotations

import asyncio
import io
import math
import struct
import wave
from collections import defaultdict, deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from aiohttp import web

KOKORO_RATE = 24_000
SECONDS_PER_CHAR = 0.05


@dataclass
class Fault:
    """One scripted answer for a route: an error body, a delay, or a cut connection."""

    status: int = 200
    json_body: Any = None
    text: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # before answering (cut short when the server closes)
    cut_after: int | None = None  # audio bytes sent before the connection is dropped (200 only)
    hold_after: int | None = None  # audio bytes sent, then wait for `server.release` (streams only)


@dataclass(frozen=True)
class Recorded:
    route: str
    method: str
    path: str
    headers: dict[str, str]
    json: Any = None
    fields: dict[str, Any] = field(default_factory=dict)  # multipart: name -> str, or FilePart


@dataclass(frozen=True)
class FilePart:
    filename: str | None
    content_type: str
    data: bytes


def tone(seconds: float, rate: int = KOKORO_RATE, freq: float = 220.0, level: float = 0.3) -> bytes:
    """A sine tone as mono s16le: deterministic, audible, and far from silence."""
    t = np.arange(round(seconds * rate)) / rate
    return (np.sin(2 * math.pi * freq * t) * level * 32767).astype("<i2").tobytes()


def wav_bytes(pcm: bytes, rate: int, channels: int = 1) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(channels)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(pcm)
    return buffer.getvalue()


def ffmpeg_stream_wav_header(rate: int, channels: int = 1) -> bytes:
    """The header Kokoro's streaming writer (PyAV, ffmpeg's wav muxer) emits: unknown sizes."""
    fmt = struct.pack("<HHIIHH", 1, channels, rate, rate * channels * 2, channels * 2, 16)
    info = b"INFO" + b"ISFT" + struct.pack("<I", 14) + b"Lavf62.12.102\x00"
    return (b"RIFF" + b"\xff\xff\xff\xff" + b"WAVE" + b"fmt " + struct.pack("<I", 16) + fmt
            + b"LIST" + struct.pack("<I", len(info)) + info + b"data" + b"\xff\xff\xff\xff")


def float_wav_bytes(pcm: bytes, rate: int) -> bytes:
    """32-bit float WAV (format 3), as scipy/soundfile write RVC's float output."""
    floats = (np.frombuffer(pcm, dtype="<i2").astype("<f4") / 32768.0).tobytes()
    fmt = struct.pack("<HHIIHH", 3, 1, rate, rate * 4, 4, 32)
    return (b"RIFF" + struct.pack("<I", 4 + 24 + 8 + len(floats)) + b"WAVE" + b"fmt " + struct.pack("<I", 16)
            + fmt + b"data" + struct.pack("<I", len(floats)) + floats)


def read_wav(data: bytes) -> tuple[int, int, bytes]:
    """(rate, channels, pcm) of a 16-bit PCM WAV, read with the standard library (not our code)."""
    with wave.open(io.BytesIO(data), "rb") as src:
        if src.getsampwidth() != 2:
            raise ValueError("not 16-bit")
        return src.getframerate(), src.getnchannels(), src.readframes(src.getnframes())


class FakeServer:
    """An aiohttp app on 127.0.0.1, port 0, with scripted faults and a request log."""

    def __init__(self) -> None:
        self.app = web.Application(client_max_size=64 * 1024 * 1024)
        self.requests: list[Recorded] = []
        self._scripts: dict[str, deque[Fault]] = defaultdict(deque)
        self._runner: web.AppRunner | None = None
        self._closing = asyncio.Event()
        self._changed = asyncio.Condition()
        self.release = asyncio.Event()  # lets a held stream (Fault.hold_after) continue
        self.url = ""
        self.port = 0  # set before entering to listen on a known port (a server "restarting" in place)

    def script(self, route: str, *faults: Fault) -> None:
        self._scripts[route].extend(faults)

    def count(self, route: str) -> int:
        return sum(1 for r in self.requests if r.route == route)

    def last(self, route: str) -> Recorded:
        return [r for r in self.requests if r.route == route][-1]

    async def wait_for(self, route: str, n: int, timeout: float = 5.0) -> None:
        """Until `n` requests of `route` have arrived."""
        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(lambda: self.count(route) >= n), timeout)

    async def __aenter__(self) -> FakeServer:
        self._runner = web.AppRunner(self.app, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port, reuse_address=True)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{self.port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._closing.set()
        if self._runner is not None:
            await self._runner.cleanup()

    async def record(self, route: str, request: web.Request, *, json_body: Any = None,
                     fields: dict[str, Any] | None = None) -> Fault | None:
        """Log the request and return the scripted fault for it (after its delay), if any."""
        self.requests.append(Recorded(route, request.method, request.path, dict(request.headers),
                                      json_body, fields or {}))
        async with self._changed:
            self._changed.notify_all()
        fault = self._scripts[route].popleft() if self._scripts[route] else None
        if fault and fault.delay:
            try:
                await asyncio.wait_for(self._closing.wait(), fault.delay)
            except TimeoutError:
                pass
        return fault

    async def until_released(self) -> None:
        """Wait for the test to set `release` (or for the server to close)."""
        waiters = [asyncio.ensure_future(self.release.wait()), asyncio.ensure_future(self._closing.wait())]
        try:
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()

    @staticmethod
    def error_response(fault: Fault) -> web.Response | None:
        if fault.status == 200 and fault.json_body is None and fault.text is None:
            return None
        if fault.text is not None:
            return web.Response(status=fault.status, text=fault.text, headers=fault.headers)
        return web.json_response(fault.json_body, status=fault.status, headers=fault.headers)


async def read_multipart(request: web.Request) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    reader = await request.multipart()
    async for part in reader:
        data = await part.read()  # type: ignore[union-attr]
        if part.filename is not None:  # type: ignore[union-attr]
            fields[part.name] = FilePart(part.filename, part.headers.get("Content-Type", ""), bytes(data))  # type: ignore[union-attr]
        else:
            fields[part.name] = bytes(data).decode()  # type: ignore[union-attr]
    return fields


async def cut_connection(request: web.Request, response: web.StreamResponse) -> web.StreamResponse:
    """Drop the TCP connection mid-body, as a crashed or restarted server does."""
    assert request.transport is not None
    request.transport.close()
    return response


# --- Kokoro-FastAPI --------------------------------------------------------------------------

class FakeKokoro(FakeServer):
    """Kokoro-FastAPI. `chunk_sizes` cycles through deliberately odd sizes to split samples."""

    def __init__(self, voices: tuple[str, ...] = ("af_heart", "af_bella", "af_sky", "am_adam"), *,
                 voices_shape: str = "new", chunk_sizes: tuple[int, ...] = (4801, 3, 2047, 9999)) -> None:
        super().__init__()
        self.voices = list(voices)
        self.voices_shape = voices_shape
        self.chunk_sizes = chunk_sizes
        self.health_status = "healthy"
        self.app.router.add_post("/v1/audio/speech", self._speech)
        self.app.router.add_get("/v1/audio/voices", self._voices)
        self.app.router.add_get("/health", self._health)
        self.app.router.add_get("/v1/models", self._models)

    @staticmethod
    def expected_seconds(text: str, speed: float = 1.0) -> float:
        return round(len(text) * SECONDS_PER_CHAR / speed * KOKORO_RATE) / KOKORO_RATE

    async def _speech(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        fault = await self.record("speech", request, json_body=body)
        if fault and (error := self.error_response(fault)):
            return error
        problem = self._validate(body)
        if problem:
            return web.json_response({"detail": {"error": "validation_error", "message": problem,
                                                 "type": "invalid_request_error"}}, status=400)
        pcm = tone(len(body["input"]) * SECONDS_PER_CHAR / float(body.get("speed", 1.0)))
        fmt = body.get("response_format", "mp3")
        payload = pcm if fmt == "pcm" else ffmpeg_stream_wav_header(KOKORO_RATE) + pcm
        content_type = "audio/pcm" if fmt == "pcm" else "audio/wav"
        cut = fault.cut_after if fault else None
        hold = fault.hold_after if fault else None
        if not body.get("stream", True) and cut is None:
            return web.Response(body=payload, content_type=content_type,
                                headers={"Content-Disposition": f"attachment; filename=speech.{fmt}"})
        response = web.StreamResponse(headers={"Content-Type": content_type, "X-Accel-Buffering": "no",
                                               "Cache-Control": "no-cache"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        sent, sizes = 0, 0
        if hold is not None:
            await response.write(payload[:hold])
            await self.until_released()
            sent = hold
        while sent < len(payload):
            size = self.chunk_sizes[sizes % len(self.chunk_sizes)]
            sizes += 1
            if cut is not None and sent + size > cut:
                await response.write(payload[sent:cut])
                return await cut_connection(request, response)
            await response.write(payload[sent:sent + size])
            sent += size
        await response.write_eof()
        return response

    def _validate(self, body: dict[str, Any]) -> str | None:
        if body.get("model") not in ("kokoro", "tts-1", "tts-1-hd", "gpt-4o-mini-tts"):
            return f"Unsupported model: {body.get('model')}"
        if body.get("response_format", "mp3") not in ("pcm", "wav"):
            return "this fake speaks pcm and wav only"
        for part in str(body.get("voice", "")).replace("-", "+").split("+"):
            name = part.split("(")[0].strip()
            if name not in self.voices:
                return f"Voice '{name}' not found. Available voices: {', '.join(sorted(self.voices))}"
        if not str(body.get("input", "")).strip():
            return "Input text cannot be empty"
        return None

    async def _voices(self, request: web.Request) -> web.Response:
        fault = await self.record("voices", request)
        if fault and (error := self.error_response(fault)):
            return error
        if self.voices_shape == "old" or request.query.get("legacy") == "true":
            return web.json_response({"voices": self.voices})
        return web.json_response({"voices": [{"id": v, "name": v} for v in self.voices]})

    async def _health(self, request: web.Request) -> web.Response:
        fault = await self.record("health", request)
        if fault and (error := self.error_response(fault)):
            return error
        if self.health_status != "healthy":
            return web.json_response({"status": "unhealthy", "reason": self.health_status}, status=503)
        return web.json_response({"status": "healthy"})

    async def _models(self, request: web.Request) -> web.Response:
        await self.record("models", request)
        return web.json_response({"object": "list", "data": [
            {"id": m, "object": "model", "created": 1686935002, "owned_by": "kokoro"}
            for m in ("tts-1", "tts-1-hd", "kokoro")]})


# --- Whisper: OpenAI-compatible and whisper.cpp ------------------------------------------------

class FakeOpenAIWhisper(FakeServer):
    """speaches-like. Answers `texts` in order (the last one repeats); checks the upload is WAV."""

    def __init__(self, texts: tuple[str, ...] = ("Hello there.",), *, models: tuple[str, ...] = (
            "Systran/faster-whisper-small",)) -> None:
        super().__init__()
        self.texts = deque(texts)
        self.models = list(models)
        self.received: list[tuple[int, int, bytes]] = []  # (rate, channels, pcm) of each upload
        self.app.router.add_post("/v1/audio/transcriptions", self._transcribe)
        self.app.router.add_get("/health", self._health)
        self.app.router.add_get("/v1/models", self._models)

    def next_text(self) -> str:
        return self.texts.popleft() if len(self.texts) > 1 else self.texts[0]

    async def _transcribe(self, request: web.Request) -> web.Response:
        fields = await read_multipart(request)
        fault = await self.record("transcribe", request, fields=fields)
        if fault and (error := self.error_response(fault)):
            return error
        missing = [name for name in ("file", "model") if name not in fields]
        if missing:
            return web.json_response({"detail": [{"type": "missing", "loc": ["body", name], "msg": "Field required",
                                                  "input": None} for name in missing]}, status=422)
        if fields["model"] not in self.models:
            return web.json_response({"detail": f"Model '{fields['model']}' is not installed locally."},
                                     status=404)
        try:
            self.received.append(read_wav(fields["file"].data))
        except (wave.Error, EOFError, ValueError) as exc:
            return web.json_response({"detail": f"Invalid audio file: {exc}"}, status=400)
        return web.json_response({"text": self.next_text()})

    async def _health(self, request: web.Request) -> web.Response:
        fault = await self.record("health", request)
        if fault and (error := self.error_response(fault)):
            return error
        return web.Response(text="OK")

    async def _models(self, request: web.Request) -> web.Response:
        fault = await self.record("models", request)
        if fault and (error := self.error_response(fault)):
            return error
        return web.json_response({"object": "list", "data": [
            {"id": m, "object": "model", "created": 0, "owned_by": m.split("/")[0]} for m in self.models]})


class FakeWhisperCpp(FakeServer):
    """whisper.cpp's server: 16 kHz WAV only, one line per segment, errors as HTTP 200."""

    def __init__(self, segments: tuple[str, ...] = (" Hello there.",), *, has_health: bool = True) -> None:
        super().__init__()
        self.segments = list(segments)
        self.received: list[tuple[int, int, bytes]] = []
        self.app.router.add_post("/inference", self._inference)
        if has_health:
            self.app.router.add_get("/health", self._health)
        self.app.router.add_get("/", self._index)

    async def _inference(self, request: web.Request) -> web.Response:
        fields = await read_multipart(request)
        fault = await self.record("inference", request, fields=fields)
        if fault and (error := self.error_response(fault)):
            return error
        if "file" not in fields:
            return web.json_response({"error": "no 'file' field in the request"})
        try:
            rate, channels, pcm = read_wav(fields["file"].data)
        except (wave.Error, EOFError, ValueError):
            return web.json_response({"error": "failed to read WAV file"})
        if rate != 16_000:
            return web.json_response({"error": "failed to read WAV file"})  # its read_wav insists on 16 kHz
        self.received.append((rate, channels, pcm))
        return web.json_response({"text": "".join(f"{s}\n" for s in self.segments)})

    async def _health(self, request: web.Request) -> web.Response:
        fault = await self.record("health", request)
        if fault and (error := self.error_response(fault)):
            return error
        return web.json_response({"status": "ok"})

    async def _index(self, request: web.Request) -> web.Response:
        await self.record("index", request)
        return web.Response(text="<html><title>Whisper.cpp Server</title></html>", content_type="text/html")
