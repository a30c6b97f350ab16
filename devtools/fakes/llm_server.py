"""A scriptable LLM server for tests: Ollama's API and the OpenAI-compatible API, byte for byte.

One server speaks both dialects on 127.0.0.1 (a random port):

    Ollama          POST /api/chat (NDJSON stream, or one JSON object with "stream": false), GET /api/tags,
                    POST /api/show (the model's `capabilities`)
    OpenAI-compat   POST /v1/chat/completions (SSE), GET /v1/models (with OpenRouter's `architecture`
                    and `supported_parameters`); GET /v1/key when openrouter=True

Each chat request takes the next queued `Reply` (then `server.default`), which says what to
answer and how to misbehave: delays, a stall, an error inside the 200 stream, a clean end without
the final marker, a dropped connection, a malformed line, an HTTP error with Retry-After. A reply
may think (`reasoning`) and call tools (`tool_calls=[FakeToolCall("web_search", {"query": ...})]`),
each in the dialect's own fields (devtools/fakes/llm_frames.py). Requests are checked as strictly
as the real servers check them (devtools/fakes/llm_checks.py): images, tool calls, tool results,
and tools or images sent to a model whose `capabilities` lack them.

    async with FakeLLMServer() as server:
        server.queue(Reply(status=503), Reply(text="Hello there", token_delay=0.01))
        provider = OllamaProvider(session, server.url, "llama3.2", ...)      # Ollama dialect
        client = OpenAICompatProvider(session, "openai", server.openai_url, "gpt-4o-mini", ...)
        ...
        assert server.chat_requests[-1].json["messages"][-1]["role"] == "assistant"
        await server.refuse_connections()     # the port now refuses (ECONNREFUSED)
        await server.accept_connections()     # and serves again, same port

Unknown models get each dialect's own 404 (OpenRouter: 400); with `api_key` set, the OpenAI
endpoints answer 401 to any other bearer token. The JSON is shaped and encoded like the real
servers' (Go's encoder for Ollama, compact chunks and indented errors for OpenAI).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from devtools.fakes.llm_checks import check_ollama, check_openai
from devtools.fakes.llm_frames import FakeToolCall, Frames, OllamaFrames, OpenAIFrames, Reply, go_json
from devtools.fakes.sockets import hanging_listener, refused_url

__all__ = ["FakeLLMServer", "FakeToolCall", "Recorded", "Reply", "hanging_listener", "refused_url"]

OLLAMA_MODELS = ("llama3.2:latest", "llama3.2:1b", "llava:latest", "qwen3:latest")
OPENAI_MODELS = ("gpt-4o-mini", "meta-llama/llama-3.3-70b-instruct:free")
# What each model can do (Ollama's /api/show `capabilities`); a model not listed: completion and tools.
CAPABILITIES: Mapping[str, tuple[str, ...]] = {
    "llama3.2": ("completion", "tools"), "llama3.2:1b": ("completion", "tools"),
    "llava": ("completion", "vision"), "qwen3": ("completion", "tools", "thinking"),
    "gpt-4o-mini": ("completion", "vision", "tools"),
    "meta-llama/llama-3.3-70b-instruct:free": ("completion", "tools"),
}
DEFAULT_CAPABILITIES = ("completion", "tools")


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    json: Any


@dataclass
class FakeLLMServer:
    """See the module docstring. `models` None accepts any model name."""

    models: Sequence[str] | None = OLLAMA_MODELS + OPENAI_MODELS
    api_key: str | None = None
    openrouter: bool = False
    default: Reply = field(default_factory=Reply)
    responder: Callable[[Any], Reply] | None = None  # builds the reply from the request body, after the queue
    ollama_tags: Sequence[str] | None = None  # what GET /api/tags lists; None: the llama models of `models`
    capabilities: Mapping[str, Sequence[str]] = field(default_factory=lambda: dict(CAPABILITIES))
    requests: list[Recorded] = field(default_factory=list)
    in_flight: int = 0
    max_in_flight: int = 0

    def __post_init__(self) -> None:
        self._replies: list[Reply] = []
        self._runner: web.AppRunner | None = None
        self._port = 0
        self._closing = asyncio.Event()
        self._changed = asyncio.Condition()

    # --- control -------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """Base URL, as OLLAMA_HOST."""
        return f"http://127.0.0.1:{self._port}"

    @property
    def openai_url(self) -> str:
        """Base URL for OpenAI-compatible clients (OPENAI_BASE_URL / OPENROUTER_BASE_URL)."""
        return f"{self.url}/v1"

    @property
    def chat_requests(self) -> list[Recorded]:
        return [r for r in self.requests if r.path.endswith(("/api/chat", "/chat/completions"))]

    def queue(self, *replies: Reply) -> None:
        """Answers for the next chat requests, in order; `default` answers once they are used up."""
        self._replies.extend(replies)

    async def wait_for_chat_requests(self, count: int, timeout: float = 5.0) -> None:
        async with asyncio.timeout(timeout), self._changed:
            await self._changed.wait_for(lambda: len(self.chat_requests) >= count)

    async def start(self) -> FakeLLMServer:
        app = web.Application()
        app.router.add_post("/api/chat", self._ollama_chat)
        app.router.add_get("/api/tags", self._ollama_tags)
        app.router.add_post("/api/show", self._ollama_show)
        app.router.add_post("/v1/chat/completions", self._openai_chat)
        app.router.add_get("/v1/models", self._openai_models)
        app.router.add_get("/v1/key", self._openrouter_key)
        self._runner = web.AppRunner(app, handler_cancellation=True, shutdown_timeout=0.5, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self._port, reuse_address=True)
        await site.start()
        if not self._port:
            self._port = self._runner.addresses[0][1]
        return self

    async def close(self) -> None:
        self._closing.set()  # releases stalled handlers
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def refuse_connections(self) -> None:
        """Stop listening and drop open connections: new requests get ECONNREFUSED."""
        await self.close()

    async def accept_connections(self) -> None:
        self._closing = asyncio.Event()
        await self.start()

    async def __aenter__(self) -> FakeLLMServer:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # --- shared plumbing -------------------------------------------------------------------------

    async def _record(self, request: web.Request) -> Any:
        body = await request.json() if request.can_read_body else None
        async with self._changed:
            self.requests.append(Recorded(request.method, request.path, dict(request.headers), body))
            self._changed.notify_all()
        return body

    def _next_reply(self) -> Reply:
        return self._replies.pop(0) if self._replies else self.default

    def capabilities_of(self, model: str) -> frozenset[str]:
        found = self.capabilities.get(model) or self.capabilities.get(model.removesuffix(":latest"))
        return frozenset(found if found is not None else DEFAULT_CAPABILITIES)

    def _knows(self, model: str, dialect: str) -> bool:
        if self.models is None:
            return True
        return model in self.models or (dialect == "ollama" and f"{model}:latest" in self.models)

    async def _stall(self) -> None:
        await self._closing.wait()

    async def _serve_stream(self, request: web.Request, reply: Reply, content_type: str,
                            frames: Frames) -> web.StreamResponse:
        """Write the chunks of `reply`, misbehaving where it says so."""
        response = web.StreamResponse(headers={"Content-Type": content_type})
        await response.prepare(request)
        for _ in range(reply.keepalives):
            await response.write(b": OPENROUTER PROCESSING\n\n")
        if reply.first_token_delay:
            await asyncio.sleep(reply.first_token_delay)
        await response.write(frames.opening())
        pieces = frames.plan(reply)
        for index in range(len(pieces) + 1):
            if index == reply.stall_after:
                await self._stall()
                return response
            if index == reply.error_after:
                await response.write(frames.error(reply.error))
                await response.write_eof()
                return response
            if index == reply.truncate_after:
                await response.write_eof()
                return response
            if index == reply.reset_after:
                assert request.transport is not None
                request.transport.abort()
                return response
            if index == reply.garbage_after:
                await response.write(frames.garbage())
            if index == len(pieces):
                break
            if index and reply.token_delay:
                await asyncio.sleep(reply.token_delay)
            await response.write(pieces[index]())
        await response.write(frames.closing(reply))
        await response.write_eof()
        return response

    async def _chat(self, request: web.Request, dialect: str) -> web.StreamResponse:
        body = await self._record(request)
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if dialect == "openai" and self.api_key and request.headers.get("Authorization") != f"Bearer {self.api_key}":
                return self._openai_error(401, "Incorrect API key provided.", "invalid_api_key")
            reply = self.responder(body) if self.responder and not self._replies else self._next_reply()
            if reply.headers_delay:
                await asyncio.sleep(reply.headers_delay)
            if reply.status != 200:
                return self._error(dialect, reply.status, reply.error, reply.retry_after)
            if not self._knows(body["model"], dialect):
                return self._unknown_model(dialect, body["model"])
            check = check_ollama if dialect == "ollama" else check_openai
            if problem := check(body, self.capabilities_of(body["model"])):
                return self._error(dialect, *problem, None)
            frames = (OllamaFrames if dialect == "ollama" else OpenAIFrames)(body["model"], self.openrouter,
                                                                                body.get("stream_options"))
            streamed = body.get("stream", dialect == "ollama")  # Ollama streams unless told not to
            if not streamed:
                return web.Response(body=frames.whole(reply), content_type="application/json", charset="utf-8")
            content_type = "application/x-ndjson" if dialect == "ollama" else "text/event-stream; charset=utf-8"
            return await self._serve_stream(request, reply, content_type, frames)
        finally:
            self.in_flight -= 1

    def _error(self, dialect: str, status: int, message: str, retry_after: str | None) -> web.Response:
        headers = {"Retry-After": retry_after} if retry_after else {}
        if dialect == "ollama":
            return web.Response(status=status, body=go_json({"error": message}), headers=headers,
                                content_type="application/json", charset="utf-8")
        return self._openai_error(status, message, None, headers)

    def _openai_error(self, status: int, message: str, code: str | None,
                      headers: dict[str, str] | None = None) -> web.Response:
        if self.openrouter:
            body = json.dumps({"error": {"message": message, "code": status}}, separators=(",", ":"))
        else:
            kind = "invalid_request_error" if status < 500 else "server_error"
            body = json.dumps({"error": {"message": message, "type": kind, "param": None, "code": code}}, indent=4)
        return web.Response(status=status, text=body + "\n", headers=headers, content_type="application/json")

    def _unknown_model(self, dialect: str, model: str) -> web.Response:
        if dialect == "ollama":
            return self._error("ollama", 404, f'model "{model}" not found, try pulling it first', None)
        if self.openrouter:
            return self._openai_error(400, f"{model} is not a valid model ID", None)
        return self._openai_error(404, f"The model `{model}` does not exist or you do not have access to it.",
                                  "model_not_found")

    # --- handlers ------------------------------------------------------------------------------

    async def _ollama_chat(self, request: web.Request) -> web.StreamResponse:
        return await self._chat(request, "ollama")

    async def _openai_chat(self, request: web.Request) -> web.StreamResponse:
        return await self._chat(request, "openai")

    async def _ollama_tags(self, request: web.Request) -> web.Response:
        await self._record(request)
        models = [{"name": m, "model": m, "modified_at": "2024-10-01T12:00:00.123456789Z", "size": 2019393189,
                   "digest": "a80c4f17acd55265feec403c7aef86be0c25983ab279d83f3bcd3abbcb5b8b72",
                   "details": {"parent_model": "", "format": "gguf", "family": "llama", "families": ["llama"],
                               "parameter_size": "3.2B", "quantization_level": "Q4_K_M"}}
                  for m in self._tag_names()]
        return web.Response(body=go_json({"models": models}), content_type="application/json", charset="utf-8")

    async def _ollama_show(self, request: web.Request) -> web.Response:
        body = await self._record(request)
        model = body.get("model") if isinstance(body, dict) else None
        if not isinstance(model, str) or not self._knows(model, "ollama"):
            return self._error("ollama", 404, f"model '{model}' not found", None)
        details = {"parent_model": "", "format": "gguf", "family": "llama", "families": ["llama"],
                   "parameter_size": "3.2B", "quantization_level": "Q4_K_M"}
        return web.Response(body=go_json({"modelfile": f"FROM {model}\n", "parameters": "stop \"<|eot_id|>\"",
                                          "template": "{{ .Prompt }}", "details": details, "model_info": {},
                                          "capabilities": sorted(self.capabilities_of(model)),
                                          "modified_at": "2024-10-01T12:00:00.123456789Z"}),
                            content_type="application/json", charset="utf-8")

    def _tag_names(self) -> list[str]:
        if self.ollama_tags is not None:
            return list(self.ollama_tags)
        return [m for m in (self.models or ()) if "/" not in m and m.startswith("llama")]

    async def _openai_models(self, request: web.Request) -> web.Response:
        await self._record(request)
        if self.api_key and not self.openrouter and request.headers.get("Authorization") != f"Bearer {self.api_key}":
            return self._openai_error(401, "Incorrect API key provided.", "invalid_api_key")
        data = [self._model_entry(m) for m in (self.models or ())]
        return web.json_response({"object": "list", "data": data})

    def _model_entry(self, model: str) -> dict[str, Any]:
        if not self.openrouter:
            return {"id": model, "object": "model", "created": 1686935002, "owned_by": "system"}
        can = self.capabilities_of(model)
        parameters = ["max_tokens", "temperature", "top_p", "stop"] + (["tools", "tool_choice"] if "tools" in can else [])
        parameters += ["reasoning", "include_reasoning"] if "thinking" in can else []
        return {"id": model, "name": model, "created": 1733506137, "context_length": 131072,
                "architecture": {"modality": "text+image->text" if "vision" in can else "text->text",
                                 "input_modalities": ["text", "image"] if "vision" in can else ["text"],
                                 "output_modalities": ["text"], "tokenizer": "Llama3"},
                "pricing": {"prompt": "0", "completion": "0"}, "supported_parameters": parameters}

    async def _openrouter_key(self, request: web.Request) -> web.Response:
        await self._record(request)
        if not self.openrouter:
            raise web.HTTPNotFound()
        if self.api_key and request.headers.get("Authorization") != f"Bearer {self.api_key}":
            return self._openai_error(401, "User not found.", None)
        return web.json_response({"data": {"label": "sk-or-v1-abc...xyz", "limit": None, "usage": 0.25,
                                            "limit_remaining": None, "is_free_tier": True,
                                            "rate_limit": {"requests": 20, "interval": "10s"}}})
