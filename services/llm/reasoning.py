"""Reasoning models' `<think>...</think>` moved out of the answer, as the text streams in.

Servers disagree on where thinking goes: Ollama's `thinking` field and the OpenAI-compatible
`reasoning_content` (DeepSeek, vLLM, llama.cpp) or `reasoning` (OpenRouter) are separate already
and the providers emit them as `ReasoningDelta`; but older Ollama builds, LM Studio and servers
without a reasoning parser leave the block at the head of `content`. Only a block that opens the
answer (after optional whitespace) is taken, so an answer that talks about the tag keeps it. A tag
split across chunks ("<thi" + "nk>") is held back until it is clear, never shown half-way.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from services.llm.messages import ProviderEvent, ReasoningDelta, StreamEnd, TextDelta, ToolCalls

OPEN, CLOSE = "<think>", "</think>"


class ThinkSplitter:
    """Feed answer text in pieces; get back answer and reasoning pieces in order."""

    def __init__(self) -> None:
        self._pending = ""  # held back: a possible tag prefix, or leading whitespace
        self._inside = False
        self._answer_started = False
        self._after_think = False  # the block closed: whitespace before the answer is dropped

    def feed(self, text: str) -> list[TextDelta | ReasoningDelta]:
        out: list[TextDelta | ReasoningDelta] = []
        buffer, self._pending = self._pending + text, ""
        while buffer:
            if self._inside:
                end = buffer.find(CLOSE)
                if end < 0:
                    keep = _partial_suffix(buffer, CLOSE)
                    _add(out, ReasoningDelta, buffer[:len(buffer) - keep])
                    self._pending = buffer[len(buffer) - keep:]
                    return out
                _add(out, ReasoningDelta, buffer[:end])
                self._inside, self._after_think = False, True
                buffer = buffer[end + len(CLOSE):]
                continue
            if self._answer_started:
                out.append(TextDelta(buffer))
                return out
            if self._after_think:  # the answer starts after "</think>\n\n", maybe in a later chunk
                buffer = buffer.lstrip()
                self._answer_started = bool(buffer)
                continue
            head = buffer.lstrip()
            if head.startswith(OPEN):
                self._inside = True
                buffer = head[len(OPEN):]
                continue
            if not head or OPEN.startswith(head):  # only whitespace, or "<thi" so far: wait and see
                self._pending = buffer
                return out
            self._answer_started = True
        return out

    def flush(self) -> list[TextDelta | ReasoningDelta]:
        """What is still held back when the stream ends (an unclosed block stays reasoning)."""
        pending, self._pending = self._pending, ""
        if not pending:
            return []
        return [ReasoningDelta(pending) if self._inside else TextDelta(pending)]


def _add(out: list[TextDelta | ReasoningDelta], kind: type[TextDelta] | type[ReasoningDelta], text: str) -> None:
    if text:
        out.append(kind(text))


def _partial_suffix(text: str, tag: str) -> int:
    """How many characters at the end of `text` could be the start of `tag`."""
    for size in range(min(len(tag) - 1, len(text)), 0, -1):
        if tag.startswith(text[-size:]):
            return size
    return 0


async def split_reasoning(events: AsyncIterator[ProviderEvent]) -> AsyncIterator[ProviderEvent]:
    """A provider's events with any leading `<think>` block of the text turned into ReasoningDelta."""
    splitter = ThinkSplitter()
    try:
        async for event in events:
            if isinstance(event, TextDelta):
                for piece in splitter.feed(event.text):
                    yield piece
                continue
            if isinstance(event, (ToolCalls, StreamEnd)):
                for piece in splitter.flush():
                    yield piece
            yield event
    finally:
        await events.aclose()  # type: ignore[attr-defined]
