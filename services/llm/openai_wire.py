"""The OpenAI chat-completions wire format: messages out, streamed chunks in.

Out: a user turn with images becomes `content` parts (`text`, then `image_url` data URLs); an
assistant turn that called tools carries `tool_calls` (`arguments` a JSON *string*, as OpenAI
requires); a tool result is `role: "tool"` with its `tool_call_id`.
In: `delta.content` is answer text; `delta.reasoning_content` (DeepSeek, vLLM, llama.cpp) or
`delta.reasoning` (OpenRouter, Ollama's /v1) is thinking; `delta.tool_calls` arrive in fragments,
the first of a call with its `id` and `function.name`, then `function.arguments` in pieces, all
tied together by `index`, and are only complete at the end of the stream.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from services.errors import ServiceError
from services.http import parse_json
from services.llm.base import (
    Message,
    ReasoningDelta,
    TextDelta,
    ToolCall,
    Usage,
    estimate_prompt_tokens,
    estimate_tokens,
    render_content,
)
from services.llm.errors import StreamBroken, classify
from services.llm.streams import SSEEvent
from services.redact import redact


def wire_message(m: Message) -> dict[str, Any]:
    if m.role == "tool":
        return {"role": "tool", "tool_call_id": m.tool_call_id or "", "content": m.content}
    text = render_content(m)
    out: dict[str, Any] = {"role": m.role, "content": text}
    if m.images:
        out["content"] = [{"type": "text", "text": text},
                          *({"type": "image_url", "image_url": {"url": i.data_url()}} for i in m.images)]
    if m.tool_calls:
        out["content"] = text or None
        out["tool_calls"] = [{"id": c.id, "type": "function",
                              "function": {"name": c.name, "arguments": c.arguments_json()}} for c in m.tool_calls]
    return out


@dataclass
class _PartialCall:
    id: str = ""
    name: str = ""
    arguments: list[str] = field(default_factory=list)

    def finish(self, position: int) -> ToolCall:
        raw = "".join(self.arguments).strip()
        call_id = self.id or f"call_{position}"
        if not raw:
            return ToolCall(call_id, self.name, {})
        try:
            args = parse_json(raw)
        except ValueError:
            return ToolCall(call_id, self.name, {}, f"arguments are not valid JSON: {raw[:80]!r}")
        if not isinstance(args, dict):
            return ToolCall(call_id, self.name, {}, "arguments are not a JSON object")
        return ToolCall(call_id, self.name, args)


class StreamState:
    """What the chunks said so far: text, thinking, tool calls, finish reason, usage."""

    def __init__(self, service: str) -> None:
        self.service = service
        self.done = False
        self.finish_reason: str | None = None
        self.parts: list[str] = []
        self.reported: dict[str, Any] | None = None
        self._calls: dict[int, _PartialCall] = {}

    def feed(self, event: SSEEvent) -> list[TextDelta | ReasoningDelta]:
        """The text and thinking of one event; raises for an error event or a malformed one."""
        try:
            data = parse_json(event.data)
        except ValueError:
            raise StreamBroken(self.service, f"malformed event in stream: {event.data[:80]!r}") from None
        if not isinstance(data, dict):
            raise StreamBroken(self.service, f"malformed event in stream: {event.data[:80]!r}")
        if event.event == "error" or data.get("error") or data.get("object") == "error":
            raise stream_error(self.service, data)
        if isinstance(data.get("usage"), dict):
            self.reported = data["usage"]
        choices = data.get("choices") or []
        choice = choices[0] if isinstance(choices, list) and choices and isinstance(choices[0], dict) else {}
        finish = choice.get("finish_reason")
        if finish == "error":
            raise StreamBroken(self.service, "the model stopped with finish_reason \"error\"")
        if finish:
            self.finish_reason = str(finish)
        delta = choice.get("delta") if isinstance(choice.get("delta"), dict) else {}
        out: list[TextDelta | ReasoningDelta] = []
        thinking = delta.get("reasoning_content") or delta.get("reasoning")
        if isinstance(thinking, str) and thinking:
            self.parts.append(thinking)
            out.append(ReasoningDelta(thinking))
        content = delta.get("content")
        if isinstance(content, str) and content:
            self.parts.append(content)
            out.append(TextDelta(content))
        self._feed_calls(delta.get("tool_calls"))
        return out

    def _feed_calls(self, fragments: Any) -> None:
        if not isinstance(fragments, list):
            return
        for fragment in fragments:
            if not isinstance(fragment, dict):
                continue
            index = fragment.get("index")
            if not isinstance(index, int):  # a few servers omit it: a new id starts a new call
                new = fragment.get("id") and all(c.id != fragment["id"] for c in self._calls.values())
                index = len(self._calls) if new or not self._calls else max(self._calls)
            call = self._calls.setdefault(index, _PartialCall())
            if isinstance(fragment.get("id"), str) and fragment["id"] and not call.id:
                call.id = fragment["id"]
            function = fragment.get("function") if isinstance(fragment.get("function"), dict) else {}
            if isinstance(function.get("name"), str) and function["name"]:
                call.name = call.name or function["name"]
            if isinstance(function.get("arguments"), str):
                call.arguments.append(function["arguments"])
                self.parts.append(function["arguments"])

    def tool_calls(self) -> tuple[ToolCall, ...]:
        """The calls assembled so far, in index order; fragments without a name are dropped."""
        ordered = [self._calls[i] for i in sorted(self._calls)]
        return tuple(c.finish(n) for n, c in enumerate(ordered) if c.name)

    def usage(self, messages: list[Message]) -> Usage:
        reported = self.reported or {}
        prompt, completion = reported.get("prompt_tokens"), reported.get("completion_tokens")
        if isinstance(prompt, int) and isinstance(completion, int):
            return Usage(prompt, completion)
        return Usage(estimate_prompt_tokens(messages), estimate_tokens("".join(self.parts)), estimated=True)


def stream_error(service: str, data: dict[str, Any]) -> ServiceError:
    error = data.get("error")
    if isinstance(error, dict):
        message, code = str(error.get("message") or error), error.get("code")
    else:
        message, code = str(error or data.get("message") or data), data.get("code")
    message = redact(message)[:300]
    if isinstance(code, int) and 400 <= code < 600:
        return classify(service, code, f"error inside the stream: {message}")
    return StreamBroken(service, f"error inside the stream: {message}")
