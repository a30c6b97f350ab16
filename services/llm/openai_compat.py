"""Any OpenAI-compatible server: `POST {base}/chat/completions` streamed as SSE, `GET {base}/models`.

Used for OpenRouter, OpenAI, Groq, vLLM, LM Studio and llama.cpp's server. A stream is complete
when `data: [DONE]` arrives, or when it ends cleanly after a chunk carrying `finish_reason` (some
servers omit [DONE]); anything else is a cut-off. Errors inside a 200 stream come as a `data:`
event with an `error` object (OpenAI, OpenRouter, SGLang), `"object": "error"` (vLLM), an
`event: error` (some proxies), or `finish_reason: "error"` (OpenRouter).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import aclosing
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
from services.llm.errors import StreamBroken, classify, probe_error, refine, scrub
from services.llm.streams import SSEEvent, iter_lines, iter_sse
from services.redact import redact

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

    def _body(self, messages: list[Message], model: str, options: GenerationOptions) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": model,
            # A trailing assistant message is the start of the answer (prefill): how fallbacks resume.
            "messages": [{"role": m.role, "content": render_content(m)} for m in messages],
            "stream": True,
        }
        if self._include_usage:
            body["stream_options"] = {"include_usage": True}
        if options.temperature is not None:
            body["temperature"] = options.temperature
        if options.max_tokens is not None:
            body["max_tokens"] = options.max_tokens
        return body

    async def _stream(self, messages: list[Message], model: str, options: GenerationOptions,
                      timeouts: Timeouts) -> AsyncIterator[ProviderEvent]:
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=timeouts.connect)
        state = _StreamState(self.service)
        try:
            async with (
                request(self._session, "POST", f"{self._base}/chat/completions", service=self.service,
                        timeout=timeout, headers={**self._headers, "Accept": "text/event-stream"},
                        json=self._body(messages, model, options)) as response,
                aclosing(iter_sse(iter_lines(response.content.iter_any(), self.service))) as events,
            ):
                async for event in events:
                    if event.data.strip() == "[DONE]":
                        state.done = True
                        break
                    text = state.feed(event)
                    if text:
                        yield TextDelta(text)
        except ServiceError as exc:
            raise scrub(refine(exc, connect_timeout=timeouts.connect), self._secrets) from exc.__cause__
        if not state.done and state.finish_reason is None:
            raise StreamBroken(self.service, "stream ended before its final [DONE] event")
        yield StreamEnd(state.finish_reason or "stop", state.usage(messages))

    async def list_models(self, *, timeout: float = 10.0) -> list[str]:
        data = await request_json(self._session, "GET", f"{self._base}/models", service=self.service,
                                  timeout=timeout, headers=self._headers, max_bytes=16 * 1024 * 1024)
        models = data.get("data") if isinstance(data, dict) else None
        if not isinstance(models, list):
            raise TransientError(self.service, "/models answer has no model list")
        return [str(m["id"]) for m in models if isinstance(m, dict) and "id" in m]

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


class _StreamState:
    """What the chunks said so far: text, finish reason, usage."""

    def __init__(self, service: str) -> None:
        self.service = service
        self.done = False
        self.finish_reason: str | None = None
        self.parts: list[str] = []
        self.reported: dict[str, Any] | None = None

    def feed(self, event: SSEEvent) -> str:
        """The text of one event; raises for an error event or a malformed one."""
        try:
            data = parse_json(event.data)
        except ValueError:
            raise StreamBroken(self.service, f"malformed event in stream: {event.data[:80]!r}") from None
        if not isinstance(data, dict):
            raise StreamBroken(self.service, f"malformed event in stream: {event.data[:80]!r}")
        if event.event == "error" or data.get("error") or data.get("object") == "error":
            raise _stream_error(self.service, data)
        if isinstance(data.get("usage"), dict):
            self.reported = data["usage"]
        choices = data.get("choices") or []
        choice = choices[0] if isinstance(choices, list) and choices and isinstance(choices[0], dict) else {}
        finish = choice.get("finish_reason")
        if finish == "error":
            raise StreamBroken(self.service, "the model stopped with finish_reason \"error\"")
        if finish:
            self.finish_reason = str(finish)
        delta = choice.get("delta")
        content = delta.get("content") if isinstance(delta, dict) else None
        if isinstance(content, str) and content:
            self.parts.append(content)
            return content
        return ""

    def usage(self, messages: list[Message]) -> Usage:
        reported = self.reported or {}
        prompt, completion = reported.get("prompt_tokens"), reported.get("completion_tokens")
        if isinstance(prompt, int) and isinstance(completion, int):
            return Usage(prompt, completion)
        return Usage(estimate_prompt_tokens(messages), estimate_tokens("".join(self.parts)), estimated=True)


def _stream_error(service: str, data: dict[str, Any]) -> ServiceError:
    error = data.get("error")
    if isinstance(error, dict):
        message, code = str(error.get("message") or error), error.get("code")
    else:
        message, code = str(error or data.get("message") or data), data.get("code")
    message = redact(message)[:300]
    if isinstance(code, int) and 400 <= code < 600:
        return classify(service, code, f"error inside the stream: {message}")
    return StreamBroken(service, f"error inside the stream: {message}")

