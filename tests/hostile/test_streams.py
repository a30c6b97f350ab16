"""Streamed answers: any chunking of a valid stream gives the same events, and garbage from the server
gives a typed ServiceError (never AttributeError, RecursionError, TypeError...).

The provider tests run each generated stream through a real aiohttp server on 127.0.0.1, written in the
generated chunks, so the bytes go through the same client code as in production."""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from services.errors import ServiceError
from services.llm.base import GenerationOptions, Message, Timeouts
from services.llm.errors import StreamBroken
from services.llm.ollama import OllamaProvider
from services.llm.openai_compat import OpenAICompatProvider
from services.llm.streams import SSEEvent, iter_lines, iter_sse

EOLS = [b"\n", b"\r\n", b"\r"]
field_text = st.text(alphabet=st.characters(codec="utf-8", exclude_characters="\r\n"), max_size=30)


def _chunked(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({min(c, len(data)) for c in cuts} | {0, len(data)})
    return [data[a:b] for a, b in itertools.pairwise(points)]


async def _aiter(chunks: list[bytes]) -> AsyncIterator[bytes]:
    for chunk in chunks:
        yield chunk


async def _lines(chunks: list[bytes], max_line: int = 1 << 20) -> list[bytes]:
    return [line async for line in iter_lines(_aiter(chunks), "llm:test", max_line)]


async def _events(chunks: list[bytes]) -> list[SSEEvent]:
    return [event async for event in iter_sse(iter_lines(_aiter(chunks), "llm:test"))]


sse_events = st.lists(st.tuples(st.lists(field_text, min_size=1, max_size=3), st.sampled_from(["", "delta", "error"]),
                                st.booleans()), max_size=8)


@settings(max_examples=300, deadline=None)
@given(events=sse_events, eol=st.sampled_from(EOLS), cuts=st.lists(st.integers(0, 2000), max_size=40),
       bom=st.booleans())
def test_sse_any_chunking_gives_the_written_events(events, eol: bytes, cuts: list[int], bom: bool) -> None:
    wire, expected = [b"\xef\xbb\xbf"] if bom else [], []
    for datas, name, comment in events:
        if comment:
            wire.append(b": keep-alive" + eol)
        if name:
            wire.append(f"event: {name}".encode() + eol)
        for data in datas:
            wire.append(f"data: {data}".encode() + eol)
        wire.append(eol)
        expected.append(SSEEvent("\n".join(datas), name or "message"))
    data = b"".join(wire)
    assert asyncio.run(_events(_chunked(data, cuts))) == expected
    assert asyncio.run(_events([data])) == expected


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=600), cuts=st.lists(st.integers(0, 600), max_size=30), max_line=st.integers(1, 64))
@example(data=b"x" * 10 + b"\n", cuts=[], max_line=5)  # one chunk used to let an over-long line through
@example(data=b"xxxxx\r\n", cuts=[6], max_line=5)  # a CR waiting for its LF is not part of the line
def test_lines_are_the_same_for_any_chunking(data: bytes, cuts: list[int], max_line: int) -> None:
    def outcome(chunks: list[bytes]) -> list[bytes] | str:
        try:
            return asyncio.run(_lines(chunks, max_line))
        except StreamBroken:
            return "too long"
    expected = [line.rstrip(b"\r\n") for line in data.splitlines(keepends=True)]
    whole = outcome([data])
    assert whole == ("too long" if any(len(line) > max_line for line in expected) else expected)
    assert outcome(_chunked(data, cuts)) == whole
    assert outcome([data[i:i + 1] for i in range(len(data))]) == whole


def test_a_long_line_trickled_byte_by_byte_is_not_quadratic() -> None:
    data = b"x" * 200_000 + b"\n"
    assert asyncio.run(_lines([data[i:i + 1] for i in range(len(data))])) == [b"x" * 200_000]


# --- through the providers, over HTTP ------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
        st.sampled_from(["message", "content", "done", "done_reason", "error", "choices", "delta", "finish_reason",
                         "usage", "prompt_tokens", "eval_count", "object", "code"]), inner, max_size=4),
    max_leaves=12,
)
TIMEOUTS = Timeouts(connect=5, first_token=10, token_gap=10, total=20)


async def _serve_and_chat(make_provider, path: str, chunks: list[bytes]):
    async def handler(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/x-ndjson"})
        await response.prepare(request)
        for chunk in chunks:
            await response.write(chunk)
        await response.write_eof()
        return response

    app = web.Application()
    app.router.add_post(path, handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        async with aiohttp.ClientSession() as session:
            provider = make_provider(session, f"http://127.0.0.1:{port}")
            return await provider.chat([Message("user", "hi")])
    finally:
        await runner.cleanup()


def _ollama(session: aiohttp.ClientSession, url: str) -> OllamaProvider:
    return OllamaProvider(session, url, "m", options=GenerationOptions(), timeouts=TIMEOUTS)


def _openai(session: aiohttp.ClientSession, url: str) -> OpenAICompatProvider:
    return OpenAICompatProvider(session, "openai", url, "m", api_key="sk-test-secret-key-123",
                                options=GenerationOptions(), timeouts=TIMEOUTS)


def _chat(provider, path: str, data: bytes, cuts: list[int]):
    """The Completion, or the ServiceError raised; any other exception fails the test."""
    try:
        return asyncio.run(_serve_and_chat(provider, path, _chunked(data, cuts)))
    except ServiceError as error:
        return error


io_settings = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
cut_lists = st.lists(st.integers(0, 400), max_size=12)


@io_settings
@given(parts=st.lists(st.text(min_size=1, max_size=20), max_size=6), cuts=cut_lists)
def test_ollama_valid_stream_any_chunking(parts: list[str], cuts: list[int]) -> None:
    lines = [json.dumps({"message": {"role": "assistant", "content": p}, "done": False}) for p in parts]
    lines.append(json.dumps({"message": {"content": ""}, "done": True, "done_reason": "stop",
                             "prompt_eval_count": 3, "eval_count": len(parts)}))
    completion = _chat(_ollama, "/api/chat", "\n".join(lines).encode() + b"\n", cuts)
    assert not isinstance(completion, ServiceError), completion
    assert completion.text == "".join(parts)
    assert completion.usage.completion_tokens == len(parts)


@io_settings
@given(lines=st.lists(st.one_of(json_values.map(json.dumps), st.text(max_size=30),
                                st.integers(1, 3000).map(lambda n: "[" * n)), max_size=6), cuts=cut_lists)
@example(lines=['{"message": "hi"}'], cuts=[])
@example(lines=['{"message": {"content": 5}}', '{"done": true}'], cuts=[])
@example(lines=['{"done": true, "done_reason": ["x"]}'], cuts=[])
@example(lines=["[" * 2000], cuts=[])
def test_ollama_garbage_gives_typed_errors(lines: list[str], cuts: list[int]) -> None:
    outcome = _chat(_ollama, "/api/chat", "\n".join(lines).encode(), cuts)
    if not isinstance(outcome, ServiceError):
        assert isinstance(outcome.text, str) and isinstance(outcome.finish_reason, str)


@io_settings
@given(parts=st.lists(st.text(min_size=1, max_size=20), max_size=6), cuts=cut_lists, eol=st.sampled_from(EOLS))
@example(parts=["\r"], cuts=[], eol=b"\n")  # whitespace held back in case "<think>" follows is still the answer
def test_openai_valid_stream_any_chunking(parts: list[str], cuts: list[int], eol: bytes) -> None:
    events = [{"choices": [{"index": 0, "delta": {"content": p}, "finish_reason": None}]} for p in parts]
    events.append({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    wire = b"".join(b": OPENROUTER PROCESSING" + eol + eol + b"data: " + json.dumps(e).encode() + eol + eol
                    for e in events) + b"data: [DONE]" + eol + eol
    completion = _chat(_openai, "/chat/completions", wire, cuts)
    assert not isinstance(completion, ServiceError), completion
    assert completion.text == "".join(parts)
    assert completion.finish_reason == "stop"


@io_settings
@given(datas=st.lists(st.one_of(json_values.map(json.dumps), st.text(max_size=30),
                                st.integers(1, 3000).map(lambda n: "[" * n)), max_size=6),
       cuts=cut_lists, done=st.booleans())
@example(datas=['{"choices": [{"delta": "x"}]}'], cuts=[], done=True)
@example(datas=['{"choices": [{"delta": {"content": "a"}, "finish_reason": {"x": 1}}]}'], cuts=[], done=False)
@example(datas=["[" * 2000], cuts=[], done=True)
@example(datas=['{"error": {"message": "bad key sk-test-secret-key-123", "code": 401}}'], cuts=[], done=False)
def test_openai_garbage_gives_typed_errors(datas: list[str], cuts: list[int], done: bool) -> None:
    wire = b"".join(f"data: {d}\n\n".encode() for d in datas) + (b"data: [DONE]\n\n" if done else b"")
    outcome = _chat(_openai, "/chat/completions", wire, cuts)
    if isinstance(outcome, ServiceError):
        assert "sk-test-secret-key-123" not in str(outcome)
    else:
        assert isinstance(outcome.text, str) and isinstance(outcome.finish_reason, str)
