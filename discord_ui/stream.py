"""Streams a growing answer into Discord: first words at once, then edits at a bounded rate.

`stream_answer` turns an LLM router stream into a StreamingReply (/chat, mentions and /ask all use
it); what is not the model's text (a provider switch, a cut-off, /ask's sources) is an italic note
after the answer and a blank line, or in a message of its own when the answer ends in a code block.

The text is re-split on every flush (services.chat.splitter), so an answer that outgrows one message
continues in new messages, and the final messages hold the whole answer exactly. Edits of one message
are at least `interval` apart; discord.py's own rate-limit handling does the rest. When someone (a
moderator) deletes a message of the answer while it streams, the answer stops there: the model's
stream is closed and nothing is posted again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import aclosing
from dataclasses import dataclass
from typing import Protocol

import discord

from discord_ui.ui import NO_MENTIONS
from services.chat.splitter import DISCORD_LIMIT, fence_state, render_chunks
from services.limits import LimitReached
from services.llm import AllProvidersFailed, ChatResult, ProviderSwitch, RouterEvent, TextDelta
from services.llm.errors import ProviderBusy

log = logging.getLogger(__name__)


class Editable(Protocol):
    async def edit(self, *, content: str, allowed_mentions: discord.AllowedMentions) -> object: ...


Sender = Callable[[str], Awaitable[Editable]]


class AnswerDeleted(Exception):
    """A message of the answer was deleted while it streamed."""


class StreamingReply:
    """Feed it text deltas; call finish() once. `send_first` posts message 1, `send_next` the others."""

    def __init__(self, send_first: Sender, send_next: Sender, *, interval: float,
                 limit: int = DISCORD_LIMIT, clock: Callable[[], float] = time.monotonic) -> None:
        self._send_first = send_first
        self._send_next = send_next
        self._interval = interval
        self._limit = limit
        self._clock = clock
        self.text = ""  # the answer only; a note from finish() is shown after it but kept apart
        self._note = ""
        self._status = ""  # a passing line under the text while it streams ("🔧 Searching the web…")
        self._flushed_text = ""  # the text as of the last flush: a flush that only changed the status is not paced
        self.messages: list[Editable] = []
        self._shown: list[str] = []
        self._last_edit: list[float] = []
        self._dirty = asyncio.Event()
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self.edits = 0
        self.deleted = False  # a message of the answer was deleted: it stops, nothing is re-posted

    def feed(self, delta: str) -> None:
        if not delta or self.deleted:
            return
        self.text += delta
        self._status = ""  # the answer goes on: what was running is done
        self._dirty.set()
        if self._task is None:
            self._task = asyncio.create_task(self._pump(), name="stream-flush")

    def status(self, line: str) -> None:
        """Show (or with "" clear) a short status line under the text until the answer finishes."""
        if self.deleted or line == self._status:
            return
        self._status = line
        self._dirty.set()
        if self._task is None:
            self._task = asyncio.create_task(self._pump(), name="stream-flush")

    async def _pump(self) -> None:
        while True:
            await self._dirty.wait()
            await self._pace()
            self._dirty.clear()
            try:
                await self._flush()
            except AnswerDeleted:
                return

    async def _pace(self) -> None:
        """Our own edit pacing (CHAT_STREAM_EDIT_INTERVAL), not a rate-limit workaround."""
        if self._last_edit:
            wait = self._last_edit[-1] + self._interval - self._clock()
            if wait > 0:
                await asyncio.sleep(wait)

    async def _flush(self) -> None:
        async with self._lock:
            # A status line is bounded by tool rounds, not by the model's pace: showing it does not delay
            # the answer's next text (edits that change the text stay `interval` apart).
            paced = self.text != self._flushed_text or not self._status
            self._flushed_text = self.text
            status = ("\n\n" if self.text else "") + self._status if self._status and not self._note else ""
            chunks = render_chunks(self.text + status + self._note, self._limit) or [""]
            for i, chunk in enumerate(chunks):
                if i < len(self.messages):
                    if self._shown[i] != chunk and chunk:  # Discord refuses an empty message
                        await self._edit(i, chunk, paced=paced)
                elif chunk:
                    sender = self._send_first if i == 0 else self._send_next
                    try:
                        self.messages.append(await sender(chunk))
                    except discord.NotFound:  # e.g. the placeholder it would replace was deleted
                        self._deleted(i)
                    self._shown.append(chunk)
                    self._last_edit.append(self._clock() if paced else float("-inf"))

    async def _edit(self, index: int, content: str, *, paced: bool = True) -> None:
        try:
            await self.messages[index].edit(content=content, allowed_mentions=NO_MENTIONS)
        except discord.NotFound:
            self._deleted(index)
        self._shown[index] = content
        if paced:
            self._last_edit[index] = self._clock()
        self.edits += 1

    def _deleted(self, index: int) -> None:
        log.info("Message %d of a streamed answer was deleted; the answer stops there", index)
        self.deleted = True
        raise AnswerDeleted

    async def finish(self, final_text: str | None = None, *, note: str = "") -> None:
        """Stop pacing and show exactly the final text (all of it), then `note` after a blank line.

        A note never lands inside the answer's open code block: then it goes in a message of its own.
        """
        if self._task is not None:
            async with self._lock:  # let an edit in flight complete instead of cutting its request
                self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
        self._status = ""
        if self.deleted:
            return
        if final_text is not None:
            self.text = final_text
        if note and fence_state(self.text) is None:
            self._note = ("\n\n" if self.text else "") + note
            note = ""
        final = render_chunks(self.text + self._note, self._limit)
        if any(shown != new for shown, new in zip(self._shown, final, strict=False)):
            await self._pace()  # the last edit keeps the interval too
        try:
            await self._flush()
        except AnswerDeleted:
            return
        if note:
            self.messages.append(await self._send_next(note))
            self._shown.append(note)
            self._last_edit.append(self._clock())


UNAVAILABLE = "The model backends are unavailable right now (admins: see /health)."
BUSY = "The model is busy: too many prompts are waiting. Please ask again in a few minutes."
CUT_OFF = "*The answer was cut off: the model backends failed.*"
INTERRUPTED = "*Interrupted: the bot is restarting.*"
EMPTY = "*The model returned an empty answer.*"
TOO_LONG = "*The answer reached the length limit and stops here.*"


@dataclass(frozen=True)
class Outcome:
    """How an answer ended: `text` is exactly what the model produced (notes excluded)."""

    text: str
    status: str  # complete | failed (cut off) | unavailable or refused (no answer) | deleted (by someone)
    result: ChatResult | None = None

    @property
    def worth_remembering(self) -> bool:
        """An answer that exists and was not removed from the channel."""
        return self.status not in ("unavailable", "refused", "deleted")


def switch_note(switches: list[ProviderSwitch]) -> str:
    """The one italic line that says the answer changed model mid-way (appended after the answer)."""
    parts = [f"{s.from_provider} failed mid-answer, continued on {s.to_provider}:{s.to_model}" for s in switches]
    return f"*({'; '.join(parts)})*"


Remember = Callable[[str, str], Awaitable[None]]


async def stream_answer(events: AsyncIterator[RouterEvent], reply: StreamingReply, *,
                        footer: str | Callable[[], str] = "", remember: Remember | None = None) -> Outcome:
    """Show a router answer as it streams; the one place /chat, mentions and /ask render answers.

    Notes (a provider switch, a cut-off, `footer`) follow the answer after a blank line, so the
    answer itself stays exactly the model's text. `remember(text, status)` stores an answer (whole or
    cut off) before its final text is shown, so whoever reads it and asks next finds it in memory.
    On cancellation (shutdown) the partial answer is marked as interrupted and the cancellation goes on.
    """
    switches: list[ProviderSwitch] = []
    result: ChatResult | None = None
    footer_of = footer if callable(footer) else lambda: footer
    try:
        async with aclosing(events) as stream:
            async for event in stream:
                if isinstance(event, TextDelta):
                    reply.feed(event.text)
                    if reply.deleted:
                        break  # closing the stream stops the model
                elif isinstance(event, ProviderSwitch):
                    switches.append(event)
                else:
                    result = event
    except LimitReached as exc:
        await reply.finish(exc.message)
        return Outcome("", "refused")
    except AllProvidersFailed as exc:
        partial = exc.partial_text or reply.text
        log.warning("No model could answer: %s", exc.cause)
        if not partial:
            busy = exc.attempts and all(isinstance(a.error, ProviderBusy) for a in exc.attempts)
            await reply.finish(BUSY if busy else UNAVAILABLE)
            return Outcome("", "unavailable")
        notes = [switch_note(switches)] if switches else []
        if remember is not None:
            await remember(partial, "failed")
        footer = footer_of()
        await reply.finish(partial, note="\n".join([*notes, CUT_OFF, *([footer] if footer else [])]))
        return Outcome(partial, "failed")
    except asyncio.CancelledError:
        if reply.text:
            try:
                await reply.finish(reply.text, note=INTERRUPTED)
            except discord.HTTPException as exc:
                log.warning("Could not mark an interrupted answer: %s", exc)
        raise
    if reply.deleted:
        await reply.finish()
        return Outcome(reply.text, "deleted")
    assert result is not None, "a router stream ends with a ChatResult or raises"
    notes = [switch_note(switches)] if switches else []
    if result.finish_reason == "length" and result.text:
        notes.append(TOO_LONG)
    if footer := footer_of():
        notes.append(footer)
    if not result.text:
        notes.insert(0, EMPTY)
    if remember is not None:
        await remember(result.text, "complete")
    await reply.finish(result.text, note="\n".join(notes))
    return Outcome(result.text, "deleted" if reply.deleted else "complete", result)
