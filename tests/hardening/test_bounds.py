"""External answers that are huge, endless or malformed are cut by size and time limits, never read whole.

A hostile server on 127.0.0.1 streams as fast as the client reads and counts what it managed to
send: each test checks the client stopped early (bytes sent far below what was offered), quickly,
with a typed error or a capped answer.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from aiohttp import web

from devtools.fakes.llm_server import FakeLLMServer, Reply
from services.errors import ServiceError, TransientError
from services.http import request_json
from services.llm.base import MAX_CHARS_PER_TOKEN, GenerationOptions, Message, Timeouts
from services.llm.errors import StreamBroken, StreamTimeout
from services.llm.ollama import OllamaProvider
from services.llm.openai_compat import OpenAICompatProvider
from services.search.errors import SearchTimeout
from services.search.fetch import get_json

HUNDRED_MB = 100 * 1024 * 1024
CHUNK = 64 * 1024
MAX_TOKENS = 64
PROMPT = [Message("user", "hi", "carol")]


@dataclass
class Hostile:
    """Counts the bytes each route managed to write before the client went away."""

    sent: dict[str, int] = field(default_factory=dict)

    async def _pump(self, request: web.Request, name: str, content_type: str, piece: bytes, limit: int,
                    delay: float = 0.0) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": content_type})
        await response.prepare(request)
        self.sent[name] = 0
        try:
            while self.sent[name] < limit:
                await response.write(piece)
                self.sent[name] += len(piece)
                if delay:
                    await asyncio.sleep(delay)  # the trickle itself: the server's behaviour under test
            await response.write_eof()
        except (ConnectionResetError, ConnectionError):
            pass
        return response

    async def ollama_endless(self, request: web.Request) -> web.StreamResponse:
        line = json.dumps({"model": "llama3.2", "created_at": "2026-01-01T00:00:00Z",
                           "message": {"role": "assistant", "content": "word "}, "done": False}).encode() + b"\n"
        return await self._pump(request, "ollama", "application/x-ndjson", line * 200, 10 * HUNDRED_MB)

    async def openai_endless(self, request: web.Request) -> web.StreamResponse:
        event = b'data: {"id":"x","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini",' \
                b'"choices":[{"index":0,"delta":{"content":"word "},"finish_reason":null}]}\n\n'
        return await self._pump(request, "openai", "text/event-stream; charset=utf-8", event * 200, 10 * HUNDRED_MB)

    async def endless_line(self, request: web.Request) -> web.StreamResponse:
        return await self._pump(request, "line", "application/x-ndjson", b'{"message":' + b"x" * CHUNK, HUNDRED_MB)

    async def huge_json(self, request: web.Request) -> web.StreamResponse:
        return await self._pump(request, "huge", "application/json", b"[" + b"1," * (CHUNK // 2), HUNDRED_MB)

    async def trickle(self, request: web.Request) -> web.StreamResponse:
        return await self._pump(request, "trickle", "application/json", b" ", HUNDRED_MB, delay=0.05)

    async def garbage(self, request: web.Request) -> web.Response:
        return web.Response(body=bytes(range(256)) * 64, content_type="application/json")


@pytest.fixture
async def hostile() -> AsyncIterator[tuple[Hostile, str]]:
    server = Hostile()
    app = web.Application()
    app.router.add_post("/api/chat", server.ollama_endless)
    app.router.add_post("/v1/chat/completions", server.openai_endless)
    app.router.add_post("/line/api/chat", server.endless_line)
    app.router.add_get("/huge", server.huge_json)
    app.router.add_get("/trickle", server.trickle)
    app.router.add_post("/trickle/api/chat", server.trickle)
    app.router.add_get("/garbage", server.garbage)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield server, f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


TIMEOUTS = Timeouts(connect=2, first_token=5, token_gap=5, total=20)
OPTIONS = GenerationOptions(max_tokens=MAX_TOKENS)


async def test_an_endless_ollama_stream_is_cut_at_the_answer_size_limit(hostile, session) -> None:
    server, url = hostile
    provider = OllamaProvider(session, url, "llama3.2", options=OPTIONS, timeouts=TIMEOUTS)
    started = time.monotonic()
    answer = await provider.chat(PROMPT)
    assert answer.finish_reason == "length"
    assert len(answer.text) == MAX_TOKENS * MAX_CHARS_PER_TOKEN
    assert time.monotonic() - started < 5  # long before the 20 s total timeout
    await asyncio.sleep(0)  # let the server notice the client left
    assert server.sent["ollama"] < 16 * 1024 * 1024


async def test_an_endless_openai_stream_is_cut_at_the_answer_size_limit(hostile, session) -> None:
    server, url = hostile
    provider = OpenAICompatProvider(session, "openai", f"{url}/v1", "gpt-4o-mini", api_key="k",
                                    options=OPTIONS, timeouts=TIMEOUTS)
    started = time.monotonic()
    answer = await provider.chat(PROMPT)
    assert answer.finish_reason == "length"
    assert len(answer.text) == MAX_TOKENS * MAX_CHARS_PER_TOKEN
    assert time.monotonic() - started < 5
    assert server.sent["openai"] < 16 * 1024 * 1024


async def test_an_endless_line_is_refused_at_one_megabyte(hostile, session) -> None:
    server, url = hostile
    provider = OllamaProvider(session, f"{url}/line", "llama3.2", options=OPTIONS, timeouts=TIMEOUTS)
    with pytest.raises(StreamBroken, match="longer than"):
        await provider.chat(PROMPT)
    assert server.sent["line"] < 8 * 1024 * 1024


async def test_a_hundred_megabyte_json_body_is_refused_past_the_size_limit(hostile, session) -> None:
    server, url = hostile
    started = time.monotonic()
    with pytest.raises(ServiceError, match="larger than"):
        await request_json(session, "GET", f"{url}/huge", service="search:wikipedia", timeout=10)
    assert time.monotonic() - started < 5
    assert server.sent["huge"] < 16 * 1024 * 1024  # 4 MiB limit plus what the socket buffers held


async def test_a_trickling_search_answer_ends_at_the_deadline(hostile, session) -> None:
    _, url = hostile
    started = time.monotonic()
    with pytest.raises(SearchTimeout):
        await get_json(session, f"{url}/trickle", service="search:wikipedia", timeout=1.0, user_agent="test")
    assert time.monotonic() - started < 3


async def test_a_trickling_llm_stream_with_no_token_ends_at_the_first_token_deadline(hostile, session) -> None:
    _, url = hostile
    provider = OllamaProvider(session, f"{url}/trickle", "llama3.2", options=OPTIONS,
                              timeouts=Timeouts(connect=1, first_token=0.5, token_gap=0.5, total=2))
    started = time.monotonic()
    with pytest.raises(StreamTimeout):
        await provider.chat(PROMPT)
    assert time.monotonic() - started < 3


async def test_garbage_bytes_are_a_typed_error(hostile, session) -> None:
    _, url = hostile
    with pytest.raises(TransientError, match="not JSON"):
        await request_json(session, "GET", f"{url}/garbage", service="search:web", timeout=5)


async def test_an_endless_answer_in_chat_is_one_bounded_message(bot_factory, emulator) -> None:
    async with FakeLLMServer() as llm:
        llm.queue(Reply(chunks=["word " * 50] * 20_000))  # 5 MB that never says "done" early enough
        await bot_factory(extensions=["cogs.chat"], ollama_host=llm.url, llm_max_tokens=64,
                          chat_stream_edit_interval=0.2)
        inter = await emulator.invoke(emulator.member("carol"), emulator.channel("general"), "chat", prompt="go")
        result = await inter.wait_done(timeout=10)
        await emulator.wait_until(lambda: len(result.original.content) >= MAX_TOKENS * MAX_CHARS_PER_TOKEN - 5,
                                  timeout=10, message="the capped answer")
        assert len(emulator.bot_messages(emulator.channel("general"))) == 1
        assert result.original.content == ("word " * 50 * 10)[:MAX_TOKENS * MAX_CHARS_PER_TOKEN].rstrip()
