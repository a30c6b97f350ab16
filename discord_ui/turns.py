"""Showing one ChatTurns answer (services/chat/turn.py) in Discord: the tool loop's events made into the
streamed reply that /chat, mentions and /ask share (discord_ui.stream.stream_answer).

Text streams as before; a tool call is a short status line under the text while it runs ("🔎 Searching
the web for …"); thinking is dropped or, with CHAT_REASONING=collapsed, shown folded (a spoiler) under
the answer, never in the answer's text (so never in memory or speech). After the answer: what a tool did
for the member ("⏰ Set #12 for …", everyone sees it), the numbered sources, what could not be done,
and the attachment notices (skipped files, images the model cannot see).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import aclosing
from dataclasses import dataclass, field, replace
from typing import Any

import discord

from discord_ui.escape import inert
from services.chat.attachments import AttachmentRef
from services.llm import AllProvidersFailed, RouterEvent, TextDelta
from services.llm.base import ReasoningDelta, ToolCall
from services.reminders.models import Reminder
from services.tools import AnswerDone, LoopEvent, ToolFinished, ToolStarted


def channel_ids(channel: object, channel_id: int | None) -> tuple[int, ...]:
    """This channel, then its parent for a thread: where a persona or model may be set."""
    parent = getattr(channel, "parent_id", None)
    return tuple(c for c in (channel_id, parent) if c is not None)


def refs(attachments: list[discord.Attachment]) -> list[AttachmentRef]:
    """Discord's attachments as the services see them (no discord types below the cog)."""
    return [AttachmentRef(a.filename, a.url, a.size, a.content_type, voice_message=a.is_voice_message(),
                          duration=a.duration) for a in attachments]


def thread_name(text: str, author: str) -> str:
    """A thread's name from the prompt's first line (Discord allows 1-100 characters)."""
    first = " ".join(text.split("\n", 1)[0].split())
    return (first[:80].rstrip() + ("…" if len(first) > 80 else "")) if first else f"Chat with {author}"[:100]


REASONING_SHOWN = 900  # characters of thinking shown folded; the rest is cut

STATUS = {
    "web_search": ("🔎", "Searching the web for {query}"),
    "wikipedia": ("📖", "Looking up {topic} on Wikipedia"),
    "read_url": ("🌐", "Reading {url}"),
    "set_reminder": ("⏰", "Setting a reminder"),
    "list_reminders": ("⏰", "Looking at your reminders"),
    "current_time": ("🕒", "Checking the time"),
}


def tool_status(calls: Sequence[ToolCall]) -> str:
    """One subtext line naming what runs now (arguments shown as plain text, links without previews)."""
    parts = []
    for call in calls[:3]:
        emoji, template = STATUS.get(call.name, ("🔧", f"Using {call.name}"))
        args = {k: _arg(k, v) for k, v in call.arguments.items()}
        try:
            parts.append(f"{emoji} {template.format_map(args)}")
        except KeyError:
            parts.append(f"{emoji} {template.split(' {')[0]}")
    more = f" (+{len(calls) - 3})" if len(calls) > 3 else ""
    return "-# " + "; ".join(parts) + "…" + more


def _arg(name: str, value: Any) -> str:
    text = str(value)[:120]
    if name == "url":
        return f"<{text.replace('>', '')}>"  # clickable, no preview
    return f"“{inert(text)}”"


def effect_line(effect: object) -> str | None:
    if isinstance(effect, Reminder):
        repeat = f" ({effect.recurrence.describe()})" if effect.recurrence else ""
        where = " (by DM)" if effect.dm or effect.channel_id is None else ""
        return f"⏰ Set #{effect.id} for <t:{int(effect.due_at)}:F>{repeat}{where}: {inert(effect.text[:200])}"
    return None


def reasoning_note(thinking: str) -> str:
    text = " ".join(thinking.split())
    if len(text) > REASONING_SHOWN:
        text = text[:REASONING_SHOWN - 1].rstrip() + "…"
    return f"-# 💭 Thinking ({len(thinking.split())} words): ||{inert(text)}||"


@dataclass
class TurnView:
    """Collects what one answer showed besides its text, for the footer after it."""

    reasoning_mode: str = "drop"  # CHAT_REASONING
    notices: Sequence[str] = ()  # attachment notices from ChatTurns.prepare
    done: AnswerDone | None = None
    thinking: list[str] = field(default_factory=list)

    async def events(self, source: AsyncIterator[LoopEvent], reply: Any) -> AsyncIterator[RouterEvent]:
        """The loop's events as router events for stream_answer; tool calls become the reply's status line."""
        texts: list[str] = []
        try:
            async with aclosing(source) as loop_events:
                async for event in loop_events:
                    if isinstance(event, AnswerDone):
                        self.done = event
                        yield replace(event.result, text=event.text)
                    elif isinstance(event, ReasoningDelta):
                        self.thinking.append(event.text)
                    elif isinstance(event, ToolStarted):
                        self._calls.append(event.call)
                        reply.status(tool_status(self._calls))
                    elif isinstance(event, ToolFinished):  # the line stays until the answer goes on
                        self._calls = [c for c in self._calls if c.id != event.outcome.call.id]
                    else:
                        if isinstance(event, TextDelta):
                            texts.append(event.text)
                        yield event
        except AllProvidersFailed as exc:
            exc.partial_text = "".join(texts)  # every round's text, not only the round that broke
            raise

    def __post_init__(self) -> None:
        self._calls: list[ToolCall] = []

    def footer(self) -> str:
        lines: list[str] = []
        if self.done is not None:
            lines += [line for e in self.done.effects if (line := effect_line(e))]
            if tail := self.done.footer():
                lines.append(tail)
        lines += [f"*{inert(n)}*" for n in self.notices]
        if self.reasoning_mode == "collapsed" and "".join(self.thinking).strip():
            lines.append(reasoning_note("".join(self.thinking)))
        return "\n".join(lines)
