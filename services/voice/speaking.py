"""The bot's voice in one call: text -> TTS (optionally RVC) -> the PcmQueue the player reads.

One producer of audio at a time (an answer's sentences, /say, a notice): each holds the voice
while it speaks, so two never interleave. Streamed TTS is queued chunk by chunk, so playback
starts with the first PCM of the first piece while the rest is still being synthesized; with RVC
each piece is synthesized whole and converted (a failed conversion plays the plain voice).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from contextlib import aclosing

from services.errors import ServiceDisabled, ServiceError
from services.speech import TTS, VoiceConverter
from services.speech.audio import StreamConverter, to_discord
from services.voice.playback import PcmQueue
from services.voice.results import BargedIn, TurnResult, TurnTimings
from services.voice.settings_store import GuildVoiceSettings

log = logging.getLogger(__name__)


class Voice:
    def __init__(self, *, tts: TTS | None, rvc: VoiceConverter | None, queue: PcmQueue,
                 start_playback: Callable[[], None], clock: Callable[[], float] = time.perf_counter) -> None:
        self.tts, self.rvc = tts, rvc
        self.queue = queue
        self._start_playback = start_playback
        self._clock = clock
        self._lock = asyncio.Lock()

    async def say(self, text: str, settings: GuildVoiceSettings) -> None:
        """Speak `text` behind whatever is queued.

        Raises ServiceError when TTS fails, BargedIn when a member spoke over it before it was queued.
        """
        if self.tts is None:
            raise ServiceDisabled("tts:kokoro", "KOKORO_API_URL is empty")
        async with self._lock:
            generation = self.queue.open_segment()
            try:
                await self._speak(text, settings, generation, [])
            finally:
                self.queue.close_segment(generation)

    async def speak_pieces(self, pieces: asyncio.Queue[str | None], settings: GuildVoiceSettings,
                           result: TurnResult) -> None:
        """Speak an answer's pieces as they arrive (None ends them), then wait until they have played.
        When TTS is missing or fails, the rest is not spoken and `result.degraded` says "tts"."""
        async with self._lock:
            generation = self.queue.open_segment()
            try:
                while (piece := await pieces.get()) is not None:
                    if result.degraded == "tts":
                        continue
                    if self.tts is None:
                        result.degraded = "tts"
                        continue
                    try:
                        await self._speak(piece, settings, generation, result.spoken, result.timings)
                    except ServiceError as exc:
                        log.warning("TTS failed; the answer goes to the text channel instead: %s", exc)
                        result.degraded = "tts"
            finally:
                self.queue.close_segment(generation)
        if result.spoken:
            await self.queue.wait_idle()
            result.timings.first_audio = self.queue.first_frame_at

    async def _speak(self, text: str, settings: GuildVoiceSettings, generation: int, spoken: list[str],
                     timings: TurnTimings | None = None) -> None:
        """Synthesize one piece into the queue, starting playback with its first PCM."""
        assert self.tts is not None
        if timings is not None:
            first(timings, "tts_started", self._clock)
        if settings.rvc and self.rvc is not None:
            clip = await self.tts.synthesize(text, voice=settings.voice, speed=settings.speed)
            try:
                clip = await self.rvc.convert(clip)
            except ServiceError as exc:
                log.warning("RVC failed; playing the unconverted voice: %s", exc)
            self._queue_pcm(to_discord(clip), generation, timings)
        else:
            converter = StreamConverter(self.tts.sample_rate, 1)
            async with aclosing(self.tts.stream(text, voice=settings.voice, speed=settings.speed)) as chunks:
                async for chunk in chunks:
                    self._queue_pcm(converter.feed(chunk), generation, timings)
            self._queue_pcm(converter.flush(), generation, timings)
        spoken.append(text)

    def _queue_pcm(self, pcm: bytes, generation: int, timings: TurnTimings | None) -> None:
        if not pcm:
            return
        if not self.queue.push(pcm, generation):
            raise BargedIn  # barge-in cleared the queue under us
        if timings is not None:
            first(timings, "first_pcm", self._clock)
        self._start_playback()


def first(timings: TurnTimings, name: str, clock: Callable[[], float]) -> None:
    """Stamp `name` unless an earlier moment already did."""
    if getattr(timings, name) is None:
        setattr(timings, name, clock())
