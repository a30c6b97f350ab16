"""Ollama's native API: `POST /api/chat` streamed as NDJSON, `GET /api/tags` for models and health.

A stream is complete only when its `"done": true` line arrives; an `{"error": ...}` line inside a
200 stream (the runner crashed, ran out of memory) and an end without `done` are failures.
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
    StreamEnd,
    TextDelta,
    Timeouts,
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

    def _body(self, messages: list[Message], model: str, options: GenerationOptions) -> dict[str, Any]:
        o = self._ollama
        sampling: dict[str, Any] = {"num_ctx": o.num_ctx, "top_p": o.top_p, "top_k": o.top_k, "min_p": o.min_p,
                                    "repeat_penalty": o.repeat_penalty}
        if options.temperature is not None:
            sampling["temperature"] = options.temperature
        if options.max_tokens is not None:
            sampling["num_predict"] = options.max_tokens
        return {
            "model": model,
            # A trailing assistant message is continued by Ollama (prefill): how fallbacks resume.
            "messages": [{"role": m.role, "content": render_content(m)} for m in messages],
            "stream": True,
            "options": sampling,
            "keep_alive": self._ollama.keep_alive,
        }

    async def _stream(self, messages: list[Message], model: str, options: GenerationOptions,
                      timeouts: Timeouts) -> AsyncIterator[ProviderEvent]:
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=timeouts.connect)
        produced: list[str] = []
        try:
            async with (
                request(self._session, "POST", f"{self._host}/api/chat", service=self.service,
                        timeout=timeout, json=self._body(messages, model, options)) as response,
                aclosing(iter_lines(response.content.iter_any(), self.service)) as lines,
            ):
                async for line in lines:
                    if not line.strip():
                        continue
                    data = _parse_line(line, self.service)
                    message = data.get("message")
                    content = message.get("content") if isinstance(message, dict) else None
                    if isinstance(content, str) and content:
                        produced.append(content)
                        yield TextDelta(content)
                    if data.get("done") is True:
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

    async def probe(self, models: Sequence[str], *, timeout: float = 10.0) -> list[str]:
        try:
            available = set(await self.list_models(timeout=timeout))
        except ServiceError as exc:
            raise probe_error(exc, f"{self._host}/api/tags", "OLLAMA_HOST") from exc.__cause__
        return [m for m in models if m not in available and f"{m}:latest" not in available]


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

