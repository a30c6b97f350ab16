"""The bot's outgoing audio: a queue of 48 kHz stereo PCM read 20 ms at a time by the player thread.

discord.py's player calls `read()` from its own thread every 20 ms; sentences are pushed from the
event loop as TTS produces them, so the first sentence plays while later ones are synthesized and
`/say` queues behind whatever is playing. Barge-in clears everything at once. The queue reports, on
the loop, when its first frame went out and when it ran dry, so callers can measure and await it.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from collections.abc import Callable

FRAME_BYTES = 3840  # 20 ms of 48 kHz stereo s16le
SILENCE = bytes(FRAME_BYTES)


class PcmQueue:
    """Thread-safe PCM FIFO. `open_segment`/`close_segment` bracket audio still being produced, so a
    slow TTS makes the player send silence (keep the stream) instead of ending playback."""

    def __init__(self, loop: asyncio.AbstractEventLoop, *, clock: Callable[[], float] = time.perf_counter) -> None:
        self._loop = loop
        self._clock = clock
        self._lock = threading.Lock()
        self._chunks: deque[bytes] = deque()
        self._partial = b""
        self._open_segments = 0
        self._generation = 0
        self.frames_played = 0
        self.first_frame_at: float | None = None  # clock() when the first frame of audio was read
        self._idle = asyncio.Event()
        self._idle.set()
        self._audio_started = asyncio.Event()

    # --- producer side (event loop) -------------------------------------------------------------

    def open_segment(self) -> int:
        """Audio will follow; returns the generation, which `clear()` bumps to drop late pushes."""
        with self._lock:
            self._begin_busy_locked()
            self._open_segments += 1
            return self._generation

    def push(self, pcm: bytes, generation: int | None = None) -> bool:
        """Queue PCM; False (and nothing queued) when a clear() happened since `generation`."""
        if not pcm:
            return True
        with self._lock:
            if generation is not None and generation != self._generation:
                return False
            self._begin_busy_locked()
            self._chunks.append(pcm)
        return True

    def close_segment(self, generation: int | None = None) -> None:
        with self._lock:
            if generation is not None and generation != self._generation:
                return
            self._open_segments = max(0, self._open_segments - 1)
            self._check_idle_locked()

    def clear(self) -> int:
        """Drop everything queued (barge-in); returns the bytes dropped."""
        with self._lock:
            dropped = sum(map(len, self._chunks)) + len(self._partial)
            self._chunks.clear()
            self._partial = b""
            self._open_segments = 0
            self._generation += 1
            self._check_idle_locked()
            return dropped

    @property
    def generation(self) -> int:
        return self._generation

    @property
    def pending_bytes(self) -> int:
        with self._lock:
            return sum(map(len, self._chunks)) + len(self._partial)

    @property
    def busy(self) -> bool:
        return not self._idle.is_set()

    async def wait_idle(self) -> None:
        await self._idle.wait()

    async def wait_audio(self) -> None:
        """Until the player read the first frame of real audio of the current (or next) busy period."""
        await self._audio_started.wait()

    # --- consumer side (player thread) ----------------------------------------------------------

    def read(self) -> bytes:
        """One 20 ms frame; silence while a segment is still being produced; b"" when done."""
        with self._lock:
            data = self._partial
            while len(data) < FRAME_BYTES and self._chunks:
                data += self._chunks.popleft()
            if len(data) >= FRAME_BYTES:
                frame, self._partial = data[:FRAME_BYTES], data[FRAME_BYTES:]
                self.frames_played += 1
                if self.first_frame_at is None:
                    self.first_frame_at = self._clock()
                    self._loop.call_soon_threadsafe(self._audio_started.set)
                self._check_idle_locked()
                return frame
            if self._open_segments:
                self._partial = data
                return SILENCE
            self._partial = b""
            self._check_idle_locked()
            if data:
                self.frames_played += 1
                return data.ljust(FRAME_BYTES, b"\0")
            return b""

    def _empty_locked(self) -> bool:
        return not self._chunks and not self._partial and not self._open_segments

    def _begin_busy_locked(self) -> None:
        """Called on the loop: a new busy period gets its own first-frame time and event."""
        if self._idle.is_set():
            self._idle.clear()
            self.first_frame_at = None
            self._audio_started.clear()

    def _check_idle_locked(self) -> None:
        if self._empty_locked():
            self._loop.call_soon_threadsafe(self._refresh_idle)

    def _refresh_idle(self) -> None:
        """On the loop, re-checked under the lock: a push may have come after the reader saw nothing."""
        with self._lock:
            if self._empty_locked():
                self._idle.set()
