"""The values that cross the provider interface: messages (text, images, tool calls and results)
and the events of a streamed answer. Plain data, no I/O; services/llm/base.py re-exports them."""

from __future__ import annotations

import base64
import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

Role = Literal["system", "user", "assistant", "tool"]

IMAGE_TOKENS = 800  # what one image costs a prompt, roughly (providers tile or resize to about this)


@dataclass(frozen=True, slots=True)
class ImagePart:
    """An image for a vision model, already encoded the way it is sent (PNG or JPEG bytes)."""

    data: bytes = field(repr=False)
    media_type: str = "image/png"
    name: str = ""

    def base64(self) -> str:
        return base64.b64encode(self.data).decode("ascii")

    def data_url(self) -> str:
        return f"data:{self.media_type};base64,{self.base64()}"


@dataclass(frozen=True, slots=True)
class ToolCall:
    """One call the model asked for. `error` says why its arguments could not be read (bad JSON)."""

    id: str
    name: str
    arguments: Mapping[str, Any] = field(default_factory=dict)
    error: str | None = None

    def arguments_json(self) -> str:
        return json.dumps(dict(self.arguments), ensure_ascii=False, separators=(",", ":"))


@dataclass(frozen=True, slots=True)
class ToolSpec:
    """A tool offered to the model: both dialects take the same `{"type": "function", ...}` object."""

    name: str
    description: str
    parameters: Mapping[str, Any]

    def to_wire(self) -> dict[str, Any]:
        return {"type": "function", "function": {"name": self.name, "description": self.description,
                                                 "parameters": dict(self.parameters)}}


@dataclass(frozen=True, slots=True)
class Message:
    """One chat turn; `name` is the Discord speaker of a user turn (see `render_content`).

    An assistant turn may carry the `tool_calls` it made; a "tool" turn is one call's result,
    tied to it by `tool_call_id` (OpenAI) and `tool_name` (Ollama)."""

    role: Role
    content: str
    name: str | None = None
    images: tuple[ImagePart, ...] = ()
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None
    tool_name: str | None = None

    def identity(self) -> list[Any]:
        """What makes two messages the same request (the response cache key); plain text turns
        keep the key they always had."""
        key: list[Any] = [self.role, self.content, self.name]
        if self.images:
            key.append([hashlib.sha256(i.data).hexdigest() for i in self.images])
        if self.tool_calls or self.tool_call_id:
            key.append([[c.id, c.name, c.arguments_json()] for c in self.tool_calls])
            key.append([self.tool_call_id, self.tool_name])
        return key


@dataclass(frozen=True, slots=True)
class Usage:
    """Token counts of one answer; `estimated` when the server sent none and we counted chars/4."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    estimated: bool = False

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass(frozen=True, slots=True)
class TextDelta:
    """The next piece of the answer."""

    text: str


@dataclass(frozen=True, slots=True)
class ReasoningDelta:
    """The next piece of a reasoning model's thinking: shown collapsed or dropped, never the answer."""

    text: str


@dataclass(frozen=True, slots=True)
class ToolCalls:
    """The model asked for these calls (arguments complete); comes just before StreamEnd."""

    calls: tuple[ToolCall, ...]


@dataclass(frozen=True, slots=True)
class StreamEnd:
    """The model finished ("stop", "length", "tool_calls", ...); always the last event of a provider stream."""

    finish_reason: str
    usage: Usage


ProviderEvent = TextDelta | ReasoningDelta | ToolCalls | StreamEnd


@dataclass(frozen=True, slots=True)
class Completion:
    """A whole, non-streamed answer."""

    text: str
    finish_reason: str
    usage: Usage
    reasoning: str = ""
    tool_calls: tuple[ToolCall, ...] = ()


TOKENS_PER_MESSAGE = 4  # role markers and separators a chat template adds around each message


def estimate_tokens(text: str) -> int:
    """The one rough count, for servers that report none and for memory budgets (~4 characters a token)."""
    return math.ceil(len(text) / 4)


def estimate_message_tokens(message: Message) -> int:
    """What one message costs in a prompt: its text as sent (speaker prefix included), its images,
    its tool calls, and its overhead."""
    calls = sum(estimate_tokens(c.name + c.arguments_json()) for c in message.tool_calls)
    return estimate_tokens(render_content(message)) + IMAGE_TOKENS * len(message.images) + calls + TOKENS_PER_MESSAGE


def estimate_prompt_tokens(messages: Sequence[Message]) -> int:
    return sum(estimate_message_tokens(m) for m in messages)


def render_content(message: Message) -> str:
    """User turns are sent as "Name: text". The prefix works on every backend, matches what
    CHAT_SYSTEM_PROMPT tells the model, and avoids OpenAI's `name` field, which Ollama lacks,
    llama.cpp and vLLM templates drop, and some hosted APIs reject for characters Discord allows."""
    if message.name and message.role == "user":
        return f"{message.name}: {message.content}"
    return message.content
