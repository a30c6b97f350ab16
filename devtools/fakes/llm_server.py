"""A scriptable LLM server for tests: Ollama's API and the OpenAI-compatible API, byte for byte.

One server speaks both dialects on 127.0.0.1 (a random port):

    Ollama          POST /api/chat (NDJSON stream, or one JSON object with "stream": false), GET /api/tags
    OpenAI-compat   POST /v1/chat/completions (SSE), GET /v1/models; GET /v1/key when openrouter=True

Each chat request takes the next queued `Reply` (then `server.default`), which says what to
answer and how to misbehave: delays, a stall, an error inside the 200 stream, a clean end without
the final marker, a dropped connection, a malformed line, an HTTP error with Retry-After.

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
import re
import socket
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

OLLAMA_MODELS = ("llama3.2:latest", "llama3.2:1b")
OPENAI_MODELS = ("gpt-4o-mini", "meta-llama/llama-3.3-70b-instruct:free")


@dataclass
class Reply:
    """How the server answers one chat request. Positions (`*_after`) count answer chunks sent."""

    text: str = "Hello from the fake model."
    chunks: Sequence[str] | None = None  # explicit chunking; default: word by word
    status: int = 200  # anything else: that status with the dialect's error body, no stream
    error: str = "simulated failure"  # message of an HTTP error or of an error inside the stream
    retry_after: str | None = None  # Retry-After header of an HTTP error
    headers_delay: float = 0.0  # seconds before the response headers
    first_token_delay: float = 0.0  # seconds after the headers, before the first chunk
    token_delay: float = 0.0  # seconds between chunks
    keepalives: int = 0  # SSE comments (": OPENROUTER PROCESSING") sent before the first chunk
    stall_after: int | None = None  # send nothing more after this many chunks (until the client leaves)
    error_after: int | None = None  # an error inside the 200 stream after this many chunks
    truncate_after: int | None = None  # end the body cleanly, without the final marker
    reset_after: int | None = None  # drop the TCP connection
    garbage_after: int | None = None  # a line that is not JSON
    finish_reason: str = "stop"
    usage: tuple[int, int] | None = (11, 7)  # (prompt, completion) tokens; None: not reported
    send_done: bool = True  # OpenAI: the final "data: [DONE]"

    def pieces(self) -> list[str]:
        return list(self.chunks) if self.chunks is not None else re.findall(r"\S+\s*|\s+", self.text)


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

    def _knows(self, model: str, dialect: str) -> bool:
        if self.models is None:
            return True
        return model in self.models or (dialect == "ollama" and f"{model}:latest" in self.models)

    async def _stall(self) -> None:
        await self._closing.wait()

    async def _serve_stream(self, request: web.Request, reply: Reply, content_type: str,
                            frames: _Frames) -> web.StreamResponse:
        """Write the chunks of `reply`, misbehaving where it says so."""
        response = web.StreamResponse(headers={"Content-Type": content_type})
        await response.prepare(request)
        for _ in range(reply.keepalives):
            await response.write(b": OPENROUTER PROCESSING\n\n")
        if reply.first_token_delay:
            await asyncio.sleep(reply.first_token_delay)
        await response.write(frames.opening())
        pieces = reply.pieces()
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
            await response.write(frames.chunk(pieces[index]))
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
            frames = (_OllamaFrames if dialect == "ollama" else _OpenAIFrames)(body["model"], self.openrouter,
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
            return web.Response(status=status, body=_go_json({"error": message}), headers=headers,
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
        return web.Response(body=_go_json({"models": models}), content_type="application/json", charset="utf-8")

    def _tag_names(self) -> list[str]:
        if self.ollama_tags is not None:
            return list(self.ollama_tags)
        return [m for m in (self.models or ()) if "/" not in m and m.startswith("llama")]

    async def _openai_models(self, request: web.Request) -> web.Response:
        await self._record(request)
        if self.api_key and not self.openrouter and request.headers.get("Authorization") != f"Bearer {self.api_key}":
            return self._openai_error(401, "Incorrect API key provided.", "invalid_api_key")
        data = [{"id": m, "object": "model", "created": 1686935002, "owned_by": "system"} for m in (self.models or ())]
        return web.json_response({"object": "list", "data": data})

    async def _openrouter_key(self, request: web.Request) -> web.Response:
        await self._record(request)
        if not self.openrouter:
            raise web.HTTPNotFound()
        if self.api_key and request.headers.get("Authorization") != f"Bearer {self.api_key}":
            return self._openai_error(401, "User not found.", None)
        return web.json_response({"data": {"label": "sk-or-v1-abc...xyz", "limit": None, "usage": 0.25,
                                            "limit_remaining": None, "is_free_tier": True,
                                            "rate_limit": {"requests": 20, "interval": "10s"}}})


def _go_json(value: Any) -> bytes:
    """JSON as Go's encoding/json writes it (compact, HTML characters escaped)."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026").encode()


def _now_rfc3339() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.123456789Z", time.gmtime())


class _Frames:
    """The bytes of one dialect's stream."""

    def __init__(self, model: str, openrouter: bool, stream_options: Any) -> None:
        self.model = model
        self.openrouter = openrouter
        self.include_usage = bool(isinstance(stream_options, dict) and stream_options.get("include_usage"))

    def opening(self) -> bytes:
        return b""

    def garbage(self) -> bytes:
        return b"{this is not json\n"

    def chunk(self, text: str) -> bytes:
        raise NotImplementedError

    def error(self, message: str) -> bytes:
        raise NotImplementedError

    def closing(self, reply: Reply) -> bytes:
        raise NotImplementedError

    def whole(self, reply: Reply) -> bytes:
        raise NotImplementedError


class _OllamaFrames(_Frames):
    def _line(self, content: str, **extra: Any) -> dict[str, Any]:
        return {"model": self.model, "created_at": _now_rfc3339(),
                "message": {"role": "assistant", "content": content}, **extra}

    def chunk(self, text: str) -> bytes:
        return _go_json(self._line(text, done=False)) + b"\n"

    def error(self, message: str) -> bytes:
        return _go_json({"error": message}) + b"\n"

    def _final(self, reply: Reply, content: str) -> dict[str, Any]:
        counts: dict[str, Any] = {}
        if reply.usage is not None:
            counts = {"prompt_eval_count": reply.usage[0], "prompt_eval_duration": 21000000,
                      "eval_count": reply.usage[1], "eval_duration": 312000000}
        return self._line(content, done_reason=reply.finish_reason, done=True, total_duration=412000000,
                          load_duration=19000000, **counts)

    def closing(self, reply: Reply) -> bytes:
        return _go_json(self._final(reply, "")) + b"\n"

    def whole(self, reply: Reply) -> bytes:
        return _go_json(self._final(reply, "".join(reply.pieces())))


class _OpenAIFrames(_Frames):
    def _event(self, choices: list[dict[str, Any]], **extra: Any) -> bytes:
        if self.openrouter:
            data = {"id": "gen-1730000000-abcdef", "provider": "Fake", "model": self.model,
                    "object": "chat.completion.chunk", "created": 1730000000, "choices": choices, **extra}
        else:
            data = {"id": "chatcmpl-AbCdEf123", "object": "chat.completion.chunk", "created": 1730000000,
                    "model": self.model, "system_fingerprint": "fp_0ba0d124f1", "choices": choices, **extra}
            if self.include_usage:
                data.setdefault("usage", None)
        return b"data: " + json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode() + b"\n\n"

    def _choice(self, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        if self.openrouter:
            return {"index": 0, "delta": delta, "finish_reason": finish, "native_finish_reason": finish,
                    "logprobs": None}
        return {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}

    def garbage(self) -> bytes:
        return b"data: {this is not json\n\n"

    def opening(self) -> bytes:
        if self.openrouter:
            return b""
        return self._event([self._choice({"role": "assistant", "content": "", "refusal": None})])

    def chunk(self, text: str) -> bytes:
        delta = {"role": "assistant", "content": text} if self.openrouter else {"content": text}
        return self._event([self._choice(delta)])

    def error(self, message: str) -> bytes:
        if self.openrouter:
            return self._event([self._choice({"content": ""}, "error")],
                               error={"code": "server_error", "message": message})
        body = {"error": {"message": message, "type": "server_error", "param": None, "code": None}}
        return b"data: " + json.dumps(body).encode() + b"\n\n"

    def _usage(self, reply: Reply) -> dict[str, Any]:
        assert reply.usage is not None
        prompt, completion = reply.usage
        return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}

    def closing(self, reply: Reply) -> bytes:
        frames = self._event([self._choice({}, reply.finish_reason)])
        if reply.usage is not None and (self.include_usage or self.openrouter):
            frames += self._event([], usage=self._usage(reply))
        return frames + (b"data: [DONE]\n\n" if reply.send_done else b"")

    def whole(self, reply: Reply) -> bytes:
        body: dict[str, Any] = {
            "id": "chatcmpl-AbCdEf123", "object": "chat.completion", "created": 1730000000, "model": self.model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "".join(reply.pieces())},
                         "logprobs": None, "finish_reason": reply.finish_reason}],
        }
        if reply.usage is not None:
            body["usage"] = self._usage(reply)
        return json.dumps(body, indent=2).encode()


def refused_url() -> str:
    """A base URL on 127.0.0.1 where nothing listens (the port was free a moment ago)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@contextmanager
def hanging_listener() -> Iterator[str]:
    """A base URL whose TCP connects hang (a listener with a full accept queue that never accepts),
    for connect-timeout tests."""
    listener = socket.socket()
    fillers: list[socket.socket] = []
    try:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        port = listener.getsockname()[1]
        for _ in range(3):
            filler = socket.socket()
            filler.setblocking(False)
            fillers.append(filler)
            with suppress(BlockingIOError):
                filler.connect(("127.0.0.1", port))
        yield f"http://127.0.0.1:{port}"
    finally:
        for sock in (*fillers, listener):
            sock.close()
