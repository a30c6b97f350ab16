"""Any OpenAI-compatible server: `POST {base}/chat/completions` streamed as SSE, `GET {base}/models`.

Used for OpenRouter, OpenAI, Groq, vLLM, LM Studio and llama.cpp's server. A stream is complete
when `data: [DONE]` arrives, or when it ends cleanly after a chunk carrying `finish_reason` (some
servers omit [DONE]); anything else is a cut-off. Errors inside a 200 stream come as a `data:`
event with an `error` object (OpenAI, OpenRouter, SGLang), `"object": "error"` (vLLM), an
`event: error` (some proxies), or `finish_reason: "error"` (OpenRouter). Images, tools and
thinking: services/llm/openai_wire.py.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import aclosing
from typing import Any

import aiohttp

from services.errors import ServiceError, TransientError
from services.http import request, request_json
from services.llm.base import (
    GenerationOptions,
    LLMProvider,
    Message,
    ProviderEvent,
    StreamEnd,
    Timeouts,
    ToolCalls,
    ToolSpec,
)
from services.llm.errors import StreamBroken, probe_error, refine, scrub
from services.llm.openai_wire import StreamState, wire_message
from services.llm.streams import iter_lines, iter_sse

log = logging.getLogger(__name__)


class OpenAICompatProvider(LLMProvider):
    def __init__(self, session: aiohttp.ClientSession, name: str, base_url: str, default_model: str, *,
                 api_key: str = "", options: GenerationOptions, timeouts: Timeouts,
                 extra_headers: Mapping[str, str] | None = None, key_check_path: str | None = None,
                 include_usage: bool = True) -> None:
        """`key_check_path` is an extra authenticated GET for the health probe, for servers whose
        /models answers without a key (OpenRouter: /key)."""
        super().__init__(name, default_model, options=options, timeouts=timeouts)
        self._session = session
        self._base = base_url.rstrip("/")
        self._api_key = api_key
        self._headers = {k: v for k, v in (extra_headers or {}).items() if v}
        if api_key:
            self._headers["Authorization"] = f"Bearer {api_key}"
        self._secrets = [api_key] if api_key else []
        self._key_check_path = key_check_path
        self._include_usage = include_usage

    def _body(self, messages: list[Message], model: str, options: GenerationOptions,
              tools: tuple[ToolSpec, ...] = ()) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": model,
            # A trailing assistant message is the start of the answer (prefill): how fallbacks resume.
            "messages": [wire_message(m) for m in messages],
            "stream": True,
        }
        if tools:
            body["tools"] = [t.to_wire() for t in tools]
        if self._include_usage:
            body["stream_options"] = {"include_usage": True}
        if options.temperature is not None:
            body["temperature"] = options.temperature
        if options.max_tokens is not None:
            body["max_tokens"] = options.max_tokens
        return body

    async def _stream(self, messages: list[Message], model: str, options: GenerationOptions,
                      timeouts: Timeouts, tools: tuple[ToolSpec, ...] = ()) -> AsyncIterator[ProviderEvent]:
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=timeouts.connect)
        state = StreamState(self.service)
        try:
            async with (
                request(self._session, "POST", f"{self._base}/chat/completions", service=self.service,
                        timeout=timeout, headers={**self._headers, "Accept": "text/event-stream"},
                        json=self._body(messages, model, options, tools)) as response,
                aclosing(iter_sse(iter_lines(response.content.iter_any(), self.service))) as events,
            ):
                async for event in events:
                    if event.data.strip() == "[DONE]":
                        state.done = True
                        break
                    for piece in state.feed(event):
                        yield piece
        except ServiceError as exc:
            raise scrub(refine(exc, connect_timeout=timeouts.connect), self._secrets) from exc.__cause__
        if not state.done and state.finish_reason is None:
            raise StreamBroken(self.service, "stream ended before its final [DONE] event")
        if calls := state.tool_calls():
            yield ToolCalls(calls)
        yield StreamEnd(state.finish_reason or "stop", state.usage(messages))

    async def list_models(self, *, timeout: float = 10.0) -> list[str]:
        data = await request_json(self._session, "GET", f"{self._base}/models", service=self.service,
                                  timeout=timeout, headers=self._headers, max_bytes=16 * 1024 * 1024)
        models = data.get("data") if isinstance(data, dict) else None
        if not isinstance(models, list):
            raise TransientError(self.service, "/models answer has no model list")
        return [str(m["id"]) for m in models if isinstance(m, dict) and "id" in m]

    async def capabilities(self, model: str, *, timeout: float = 10.0) -> frozenset[str] | None:
        """From the model list where the server describes its models (OpenRouter:
        `architecture.input_modalities` and `supported_parameters`); None where it does not."""
        data = await request_json(self._session, "GET", f"{self._base}/models", service=self.service,
                                  timeout=timeout, headers=self._headers, max_bytes=16 * 1024 * 1024)
        entries = data.get("data") if isinstance(data, dict) else None
        entry = next((m for m in entries or [] if isinstance(m, dict) and m.get("id") == model), None)
        if entry is None:
            return None
        modalities = (entry.get("architecture") or {}).get("input_modalities")
        parameters = entry.get("supported_parameters")
        if not isinstance(modalities, list) and not isinstance(parameters, list):
            return None
        found = {"completion"}
        if isinstance(modalities, list) and "image" in modalities:
            found.add("vision")
        if isinstance(parameters, list) and "tools" in parameters:
            found.add("tools")
        if isinstance(parameters, list) and ("reasoning" in parameters or "include_reasoning" in parameters):
            found.add("thinking")
        return frozenset(found)

    async def probe(self, models: Sequence[str], *, timeout: float = 10.0) -> list[str]:
        url = f"{self._base}{self._key_check_path or '/models'}"
        try:
            if self._key_check_path:
                await request_json(self._session, "GET", url, service=self.service, timeout=timeout,
                                   headers=self._headers)
                url = f"{self._base}/models"
            available = set(await self.list_models(timeout=timeout))
        except ServiceError as exc:
            raise scrub(probe_error(exc, url, "the base URL setting"), self._secrets) from exc.__cause__
        return [m for m in models if m not in available]
