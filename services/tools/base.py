"""What a tool is, what it is given, and what it gives back.

A tool does for the model what the member could do with a command, as the member: its context
names the member, the server and the channel of this turn, and the member's own words (what they
typed or said this turn: not attachments, not the message they replied to, not earlier turns).
`changes_state` tools (set_reminder) run only under services/tools/policy.py's rules;
`external_text` tools (search, pages) bring in text written by others, which may try to steer
the model.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from services.chat.ask import Source
from services.llm.base import ToolSpec


class ToolInputError(Exception):
    """The model's arguments cannot be used; the message is told to the model as the result."""


class ToolUnavailable(Exception):
    """The tool cannot run here (its service is not configured); told to the model."""


class SourceBook:
    """The numbered sources of one answer, shared by every tool call of the turn (first come, first numbered)."""

    def __init__(self) -> None:
        self.sources: list[Source] = []

    def cite(self, title: str, url: str, text: str = "") -> int:
        for source in self.sources:
            if source.url == url:
                return source.number
        self.sources.append(Source(len(self.sources) + 1, title, url, text))
        return len(self.sources)


@dataclass
class ToolContext:
    member_id: int
    member_name: str
    guild_id: int | None
    channel_id: int | None
    member_words: str  # what the member typed or said in this turn, nothing else
    sources: SourceBook = field(default_factory=SourceBook)
    clock: Callable[[], float] = time.time


@dataclass(frozen=True)
class ToolResult:
    """`content` goes to the model; `effect` is what changed (a Reminder) for the reply to confirm."""

    content: str
    effect: Any = None


class Tool(ABC):
    name: str
    description: str
    parameters: Mapping[str, Any]
    changes_state: bool = False
    external_text: bool = False

    def spec(self) -> ToolSpec:
        return ToolSpec(self.name, self.description, self.parameters)

    @abstractmethod
    async def run(self, args: Mapping[str, Any], ctx: ToolContext) -> ToolResult:
        """Do it; raise ToolInputError, ToolUnavailable, a ServiceError or a ReminderError to fail."""


def schema(required: Mapping[str, Mapping[str, Any]], optional: Mapping[str, Mapping[str, Any]] | None = None
           ) -> dict[str, Any]:
    """A flat JSON Schema object: `schema({"query": {"type": "string", "description": ...}})`."""
    return {"type": "object", "properties": {**required, **(optional or {})}, "required": list(required)}


def validated(args: Mapping[str, Any], parameters: Mapping[str, Any]) -> dict[str, Any]:
    """The arguments our flat schemas allow: required present, types right, strings within maxLength.
    (Our schemas are one level of strings, integers and booleans, so a full JSON Schema library
    would add a dependency for nothing.)"""
    properties: Mapping[str, Any] = parameters.get("properties", {})
    out: dict[str, Any] = {}
    for name in parameters.get("required", ()):
        if name not in args or args[name] in (None, ""):
            raise ToolInputError(f"missing argument '{name}'")
    for name, rule in properties.items():
        if name not in args or args[name] is None:
            continue
        value, kind = args[name], rule.get("type", "string")
        if kind == "integer" and isinstance(value, str) and value.strip().lstrip("-").isdigit():
            value = int(value)  # small models quote numbers
        expected = {"string": str, "integer": int, "boolean": bool}[kind]
        if not isinstance(value, expected) or (kind == "integer" and isinstance(value, bool)):
            raise ToolInputError(f"argument '{name}' must be a {kind}")
        if kind == "string" and len(value) > rule.get("maxLength", 2000):
            raise ToolInputError(f"argument '{name}' is longer than {rule.get('maxLength', 2000)} characters")
        out[name] = value.strip() if isinstance(value, str) else value
    return out
