"""Streams a growing answer into Discord: first words at once, then edits at a bounded rate.

The text is re-split on every flush (services.chat.splitter), so an answer that outgrows one message
continues in new messages, and the final messages hold the whole answer exactly. Edits of one message
are at least `interval` apart; discord.py's own rate-limit handling does the rest.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Protocol

import discord

from cogs._ui import NO_MENTIONS
from services.chat.splitter import DISCORD_LIMIT, render_chunks

log = logging.getLogger(__name__)


class Editable(Protocol):
    async def edit(self, *, content: str, allowed_mentions: discord.AllowedMentions) -> object: ...


Sender = Callable[[str], Awaitable[Editable]]


class StreamingReply:
    """Feed it text deltas; call finish() once. `send_first` posts message 1, `send_next` the others."""

    def __init__(self, send_first: Sender, send_next: Sender, *, interval: float,
                 limit: int = DISCORD_LIMIT, clock: Callable[[], float] = time.monotonic) -> None:
        self._send_first = send_first
        self._send_next = send_next
        self._interval = interval
        self._limit = limit
        self._clock = clock
        self.text = ""
        self.messages: list[Editable] = []
        self._shown: list[str] = []
        self._last_edit: list[float] = []
        self._dirty = asyncio.Event()
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self.edits = 0

    def feed(self, delta: str) -> None:
        if not delta:
            return
        self.text += delta
        self._dirty.set()
        if self._task is None:
            self._task = asyncio.create_task(self._pump(), name="stream-flush")

    async def _pump(self) -> None:
        while True:
            await self._dirty.wait()
            if self._last_edit:
                wait = self._last_edit[-1] + self._interval - self._clock()
                if wait > 0:
                    await asyncio.sleep(wait)  # our own edit pacing, not a rate-limit workaround
            self._dirty.clear()
            await self._flush()

    async def _flush(self) -> None:
        async with self._lock:
            chunks = render_chunks(self.text, self._limit) or [""]
            for i, chunk in enumerate(chunks):
                if i < len(self.messages):
                    if self._shown[i] != chunk:
                        await self._edit(i, chunk)
                elif chunk:
                    sender = self._send_first if i == 0 else self._send_next
                    self.messages.append(await sender(chunk))
                    self._shown.append(chunk)
                    self._last_edit.append(self._clock())

    async def _edit(self, index: int, content: str) -> None:
        try:
            await self.messages[index].edit(content=content, allowed_mentions=NO_MENTIONS)
        except discord.NotFound:
            # Someone deleted the message mid-answer: carry on in a fresh one.
            log.info("Streamed message %d vanished; posting its text anew", index)
            self.messages[index] = await self._send_next(content)
        self._shown[index] = content
        self._last_edit[index] = self._clock()
        self.edits += 1

    async def finish(self, final_text: str | None = None) -> None:
        """Stop pacing and show exactly the final text (all of it)."""
        if self._task is not None:
            async with self._lock:  # let an edit in flight complete instead of cutting its request
                self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
        if final_text is not None:
            self.text = final_text
        await self._flush()
