"""Ollama's native API: `POST /api/chat` streamed as NDJSON, `GET /api/tags` for models and health,
`POST /api/show` for what a model can do (`capabilities`: "vision", "tools", "thinking").

A stream is complete only when its `"done": true` line arrives; an `{"error": ...}` line inside a
200 stream (the runner crashed, ran out of memory) and an end without `done` are failures.
Images go base64 in a message's `images`; tools in `tools`; the model's calls come whole (arguments
as a JSON object) in `message.tool_calls`, its thinking in `message.thinking`; a call's result goes
back as a `role: "tool"` message with `tool_name`. `think` is never sent: a model that does not
support it answers 400, and thinking models think by default (the text or the field, both handled).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import aclosing
from dataclasses import dataclass
from typing import Any

import aiohttp

from services.errors import ServiceError, TransientError
from services.http import parse_json, request, request_json
from services.llm.base import (
    GenerationOptions,
    LLMProvider,
    Message,
    ProviderEvent,
    ReasoningDelta,
    StreamEnd,
    TextDelta,
    Timeouts,
    ToolCall,
    ToolCalls,
    ToolSpec,
    Usage,
    estimate_prompt_tokens,
    estimate_tokens,
    render_content,
)
from services.llm.errors import StreamBroken, probe_error, refine
from services.llm.streams import iter_lines

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class OllamaOptions:
    """Sampling and memory settings sent in `options` / `keep_alive` on every request."""

    num_ctx: int = 4096
    top_p: float = 0.9
    top_k: int = 40
    min_p: float = 0.05
    repeat_penalty: float = 1.1
    keep_alive: str = "5m"


class OllamaProvider(LLMProvider):
    def __init__(self, session: aiohttp.ClientSession, host: str, default_model: str, *,
                 options: GenerationOptions, timeouts: Timeouts,
                 ollama_options: OllamaOptions | None = None) -> None:
        super().__init__("ollama", default_model, options=options, timeouts=timeouts)
        self._session = session
        self._host = host.rstrip("/")
        self._ollama = ollama_options or OllamaOptions()

    def _body(self, messages: list[Message], model: str, options: GenerationOptions,
              tools: tuple[ToolSpec, ...] = ()) -> dict[str, Any]:
        o = self._ollama
        sampling: dict[str, Any] = {"num_ctx": o.num_ctx, "top_p": o.top_p, "top_k": o.top_k, "min_p": o.min_p,
                                    "repeat_penalty": o.repeat_penalty}
        if options.temperature is not None:
            sampling["temperature"] = options.temperature
        if options.max_tokens is not None:
            sampling["num_predict"] = options.max_tokens
        body: dict[str, Any] = {
            "model": model,
            # A trailing assistant message is continued by Ollama (prefill): how fallbacks resume.
            "messages": [_wire_message(m) for m in messages],
            "stream": True,
            "options": sampling,
            "keep_alive": self._ollama.keep_alive,
        }
        if tools:
            body["tools"] = [t.to_wire() for t in tools]
        return body

    async def _stream(self, messages: list[Message], model: str, options: GenerationOptions,
                      timeouts: Timeouts, tools: tuple[ToolSpec, ...] = ()) -> AsyncIterator[ProviderEvent]:
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=timeouts.connect)
        produced: list[str] = []
        calls: list[ToolCall] = []
        try:
            async with (
                request(self._session, "POST", f"{self._host}/api/chat", service=self.service,
                        timeout=timeout, json=self._body(messages, model, options, tools)) as response,
                aclosing(iter_lines(response.content.iter_any(), self.service)) as lines,
            ):
                async for line in lines:
                    if not line.strip():
                        continue
                    data = _parse_line(line, self.service)
                    message = data.get("message") if isinstance(data.get("message"), dict) else {}
                    thinking, content = message.get("thinking"), message.get("content")
                    if isinstance(thinking, str) and thinking:
                        produced.append(thinking)
                        yield ReasoningDelta(thinking)
                    if isinstance(content, str) and content:
                        produced.append(content)
                        yield TextDelta(content)
                    calls += _tool_calls(message.get("tool_calls"), len(calls))
                    if data.get("done") is True:
                        if calls:
                            yield ToolCalls(tuple(calls))
                        reason = data.get("done_reason")
                        reason = reason if isinstance(reason, str) and reason else "stop"
                        yield StreamEnd(reason, _usage(data, messages, produced))
                        return
        except ServiceError as exc:
            raise refine(exc, connect_timeout=timeouts.connect) from exc.__cause__
        raise StreamBroken(self.service, "stream ended before its final \"done\" line")

    async def list_models(self, *, timeout: float = 10.0) -> list[str]:
        data = await request_json(self._session, "GET", f"{self._host}/api/tags", service=self.service,
                                  timeout=timeout)
        models = data.get("models") if isinstance(data, dict) else None
        if not isinstance(models, list):
            raise TransientError(self.service, "/api/tags answer has no model list")
        return [str(m.get("name") or m.get("model")) for m in models if isinstance(m, dict)]

    async def capabilities(self, model: str, *, timeout: float = 10.0) -> frozenset[str] | None:
        """`capabilities` from POST /api/show (Ollama 0.6.4 and later); None from older servers."""
        data = await request_json(self._session, "POST", f"{self._host}/api/show", service=self.service,
                                  timeout=timeout, json={"model": model})
        found = data.get("capabilities") if isinstance(data, dict) else None
        if not isinstance(found, list):
            return None
        return frozenset(str(c) for c in found)

    async def probe(self, models: Sequence[str], *, timeout: float = 10.0) -> list[str]:
        try:
            available = set(await self.list_models(timeout=timeout))
        except ServiceError as exc:
            raise probe_error(exc, f"{self._host}/api/tags", "OLLAMA_HOST") from exc.__cause__
        return [m for m in models if m not in available and f"{m}:latest" not in available]


def _wire_message(m: Message) -> dict[str, Any]:
    out: dict[str, Any] = {"role": m.role, "content": render_content(m)}
    if m.images:
        out["images"] = [image.base64() for image in m.images]
    if m.tool_calls:
        out["tool_calls"] = [{"function": {"name": c.name, "arguments": dict(c.arguments)}} for c in m.tool_calls]
    if m.role == "tool" and m.tool_name:
        out["tool_name"] = m.tool_name
    return out


def _tool_calls(raw: Any, already: int) -> list[ToolCall]:
    """`message.tool_calls`: each `{"function": {"name", "arguments": {...}}}`, whole in one line.
    Newer servers add an `id`; older ones none, so one is made up (results are matched by name)."""
    if not isinstance(raw, list):
        return []
    calls = []
    for item in raw:
        function = item.get("function") if isinstance(item, dict) else None
        if not isinstance(function, dict) or not isinstance(function.get("name"), str):
            continue
        args, error = function.get("arguments", {}), None
        if isinstance(args, str):  # some templates hand the JSON back as a string
            try:
                args = parse_json(args) if args.strip() else {}
            except ValueError:
                args, error = {}, "arguments are not valid JSON"
        if not isinstance(args, dict):
            args, error = {}, "arguments are not a JSON object"
        call_id = item.get("id") if isinstance(item.get("id"), str) and item.get("id") else f"call_{already + len(calls)}"
        calls.append(ToolCall(call_id, function["name"], args, error))
    return calls


def _parse_line(line: bytes, service: str) -> dict[str, Any]:
    try:
        data = parse_json(line)
    except ValueError:
        raise StreamBroken(service, f"malformed line in stream: {line[:80]!r}") from None
    if not isinstance(data, dict):
        raise StreamBroken(service, f"malformed line in stream: {line[:80]!r}")
    if "error" in data:
        raise StreamBroken(service, f"error inside the stream: {data['error']}")
    return data


def _usage(final: dict[str, Any], messages: list[Message], produced: list[str]) -> Usage:
    # Ollama omits prompt_eval_count when the whole prompt came from its cache.
    prompt, completion = final.get("prompt_eval_count"), final.get("eval_count")
    estimated = not isinstance(prompt, int) or not isinstance(completion, int)
    return Usage(
        prompt if isinstance(prompt, int) else estimate_prompt_tokens(messages),
        completion if isinstance(completion, int) else estimate_tokens("".join(produced)),
        estimated,
    )

