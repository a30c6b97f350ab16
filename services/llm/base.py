"""The one interface every model backend implements, and the values that cross it.

A provider turns messages (text, images, earlier tool calls and their results) into an async
stream of `TextDelta`s (the answer) and `ReasoningDelta`s (a reasoning model's thinking, never
answer text), then at most one `ToolCalls` (what the model wants run), ending with one `StreamEnd`
(finish reason and usage). `<think>...</think>` at the start of the text is moved to reasoning
here, once, for every provider (services/llm/reasoning.py). Timeouts are enforced here too: a
stream that does not deliver its first token, stalls between tokens, or runs too long becomes a
typed `StreamTimeout` instead of hanging the caller.
"""

from __future__ import annotations

import asyncio
import logging
import math
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Sequence
from contextlib import aclosing
from dataclasses import dataclass

from services.llm.errors import StreamTimeout
from services.llm.messages import (
    IMAGE_TOKENS,
    TOKENS_PER_MESSAGE,
    Completion,
    ImagePart,
    Message,
    ProviderEvent,
    ReasoningDelta,
    Role,
    StreamEnd,
    TextDelta,
    ToolCall,
    ToolCalls,
    ToolSpec,
    Usage,
    estimate_message_tokens,
    estimate_prompt_tokens,
    estimate_tokens,
    render_content,
)
from services.llm.reasoning import split_reasoning

__all__ = [
    "IMAGE_TOKENS", "TOKENS_PER_MESSAGE", "Completion", "GenerationOptions", "ImagePart", "LLMProvider", "Message",
    "ProviderEvent", "ReasoningDelta", "Role", "StreamEnd", "TextDelta", "Timeouts", "ToolCall", "ToolCalls",
    "ToolSpec", "Usage", "enforce_deadlines", "enforce_length", "estimate_message_tokens", "estimate_prompt_tokens",
    "estimate_tokens", "render_content",
]
log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class GenerationOptions:
    """Per-request overrides; None means the provider's configured default."""

    temperature: float | None = None
    max_tokens: int | None = None


@dataclass(frozen=True, slots=True)
class Timeouts:
    """Seconds: to connect, to the first token (from the request start), between tokens, in total."""

    connect: float = 5.0
    first_token: float = 60.0
    token_gap: float = 30.0
    total: float = 300.0


class LLMProvider(ABC):
    """One backend (Ollama, or an OpenAI-compatible server). Subclasses implement `_stream`."""

    def __init__(self, name: str, default_model: str, *, options: GenerationOptions, timeouts: Timeouts) -> None:
        self.name = name
        self.service = f"llm:{name}"
        self.default_model = default_model
        self.options = options
        self.timeouts = timeouts

    def stream(self, messages: Sequence[Message], *, model: str | None = None,
               options: GenerationOptions | None = None, timeouts: Timeouts | None = None,
               tools: Sequence[ToolSpec] = ()) -> AsyncIterator[ProviderEvent]:
        """Stream an answer: TextDelta / ReasoningDelta events, at most one ToolCalls, then exactly
        one StreamEnd; or a ServiceError. `tools` are offered to the model (empty: none)."""
        timeouts = timeouts or self.timeouts
        merged = GenerationOptions(
            temperature=self.options.temperature if options is None or options.temperature is None
            else options.temperature,
            max_tokens=self.options.max_tokens if options is None or options.max_tokens is None
            else options.max_tokens,
        )
        raw = split_reasoning(self._stream(list(messages), model or self.default_model, merged, timeouts,
                                           tuple(tools)))
        max_chars = (merged.max_tokens or DEFAULT_MAX_TOKENS) * MAX_CHARS_PER_TOKEN
        return enforce_deadlines(enforce_length(raw, max_chars, messages), timeouts, self.service)

    async def chat(self, messages: Sequence[Message], *, model: str | None = None,
                   options: GenerationOptions | None = None, timeouts: Timeouts | None = None) -> Completion:
        """The whole answer. Streamed underneath, so stalls are noticed within the token-gap timeout."""
        parts: list[str] = []
        thinking: list[str] = []
        calls: tuple[ToolCall, ...] = ()
        async with aclosing(self.stream(messages, model=model, options=options, timeouts=timeouts)) as events:
            async for event in events:
                if isinstance(event, TextDelta):
                    parts.append(event.text)
                elif isinstance(event, ReasoningDelta):
                    thinking.append(event.text)
                elif isinstance(event, ToolCalls):
                    calls = event.calls
                else:
                    return Completion("".join(parts), event.finish_reason, event.usage, "".join(thinking), calls)
        raise AssertionError("provider stream ended without StreamEnd")  # enforced by _stream

    @abstractmethod
    def _stream(self, messages: list[Message], model: str, options: GenerationOptions,
                timeouts: Timeouts, tools: tuple[ToolSpec, ...]) -> AsyncIterator[ProviderEvent]:
        """The wire protocol; must end with StreamEnd or raise a ServiceError (never end silently)."""

    @abstractmethod
    async def list_models(self, *, timeout: float = 10.0) -> list[str]:
        """Model names the server offers."""

    async def capabilities(self, model: str, *, timeout: float = 10.0) -> frozenset[str] | None:
        """What the server says `model` can do ("vision", "tools", "thinking"); None when it does not say."""
        return None

    @abstractmethod
    async def probe(self, models: Sequence[str], *, timeout: float = 10.0) -> list[str]:
        """Check the server is reachable and accepts our key; return which of `models` it lacks."""


# A server that ignores max_tokens (or streams forever) must not fill memory and the channel until the
# total timeout: past this many characters per requested token the answer ends as if the server had
# stopped at its limit. Real tokens average about 4 characters; 16 leaves room for long ones.
MAX_CHARS_PER_TOKEN = 16
DEFAULT_MAX_TOKENS = 4096


async def enforce_length(events: AsyncIterator[ProviderEvent], max_chars: int,
                         messages: Sequence[Message]) -> AsyncIterator[ProviderEvent]:
    """Cut an answer longer than `max_chars` (thinking counted too: the limit is the server's token
    limit, which covers both): its text so far, then StreamEnd("length")."""
    produced = 0
    try:
        async for event in events:
            if isinstance(event, (TextDelta, ReasoningDelta)) and produced + len(event.text) > max_chars:
                if rest := event.text[:max_chars - produced]:
                    yield type(event)(rest)
                log.warning("Answer cut at %d characters: the server ignored the token limit", max_chars)
                yield StreamEnd("length", Usage(estimate_prompt_tokens(messages), math.ceil(max_chars / 4), True))
                return
            if isinstance(event, (TextDelta, ReasoningDelta)):
                produced += len(event.text)
            yield event
    finally:
        await events.aclose()  # type: ignore[attr-defined]


async def enforce_deadlines(events: AsyncIterator[ProviderEvent], timeouts: Timeouts,
                            service: str) -> AsyncIterator[ProviderEvent]:
    """Apply the first-token, token-gap and total deadlines to a provider's raw event stream."""
    loop = asyncio.get_running_loop()
    total_deadline = loop.time() + timeouts.total
    deadline, phase, limit = min(loop.time() + timeouts.first_token, total_deadline), "first_token", timeouts.first_token
    try:
        while True:
            if deadline >= total_deadline:
                deadline, phase, limit = total_deadline, "total", timeouts.total
            try:
                async with asyncio.timeout_at(deadline) as scope:
                    event = await anext(events)
            except StopAsyncIteration:
                return
            except TimeoutError:
                if scope.expired():
                    raise StreamTimeout(service, phase, limit) from None
                raise
            yield event
            if not isinstance(event, StreamEnd):  # thinking and tool calls show the model is alive too
                deadline, phase, limit = loop.time() + timeouts.token_gap, "token_gap", timeouts.token_gap
    finally:
        await events.aclose()  # type: ignore[attr-defined]
