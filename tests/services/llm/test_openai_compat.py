"""The OpenAI-compatible client (OpenAI, OpenRouter, vLLM, ...) against a local SSE server."""

from __future__ import annotations

import pytest

from devtools.fakes.llm_server import FakeLLMServer, Reply, refused_url
from services.errors import ServiceError, TransientError
from services.llm.base import GenerationOptions, Message, StreamEnd, TextDelta, Timeouts, Usage
from services.llm.errors import (
    AuthFailed,
    BadRequest,
    ContextTooLong,
    ModelNotFound,
    OutOfCredit,
    RateLimited,
    StreamBroken,
    StreamTimeout,
)
from services.llm.openai_compat import OpenAICompatProvider

KEY = "sk-or-v1-0123456789abcdef"
ASK = [Message("system", "Be brief."), Message("user", "Hi!", name="Ann")]
RELAXED = Timeouts(connect=2, first_token=5, token_gap=5, total=20)


def client(session, server: FakeLLMServer, *, key: str = KEY, name: str = "openrouter",
           timeouts: Timeouts = RELAXED, **kwargs) -> OpenAICompatProvider:
    return OpenAICompatProvider(session, name, server.openai_url, "gpt-4o-mini", api_key=key,
                                options=GenerationOptions(temperature=0.2, max_tokens=50), timeouts=timeouts,
                                **kwargs)


async def collect(provider: OpenAICompatProvider, **kwargs) -> list:
    return [event async for event in provider.stream(ASK, **kwargs)]


@pytest.fixture
async def openrouter():
    async with FakeLLMServer(openrouter=True, api_key=KEY) as s:
        yield s


async def test_streams_with_bearer_key_attribution_headers_and_usage(session, openrouter):
    openrouter.queue(Reply(chunks=["Hel", "lo!"], usage=(20, 3), keepalives=2))
    provider = client(session, openrouter, extra_headers={"HTTP-Referer": "https://example.org",
                                                          "X-Title": "discord-llm-bot", "Empty": ""})
    assert await collect(provider) == [TextDelta("Hel"), TextDelta("lo!"), StreamEnd("stop", Usage(20, 3))]
    sent = openrouter.chat_requests[0]
    assert sent.headers["Authorization"] == f"Bearer {KEY}"
    assert sent.headers["HTTP-Referer"] == "https://example.org" and sent.headers["X-Title"] == "discord-llm-bot"
    assert "Empty" not in sent.headers
    assert sent.json == {
        "model": "gpt-4o-mini", "stream": True, "stream_options": {"include_usage": True},
        "temperature": 0.2, "max_tokens": 50,
        "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Ann: Hi!"}],
    }


async def test_openai_dialect_with_role_chunk_and_usage_chunk(session, server):
    server.queue(Reply(text="Fine, thanks.", usage=(12, 4), finish_reason="length"))
    result = await client(session, server, key="", name="openai").chat(ASK)
    assert (result.text, result.finish_reason, result.usage) == ("Fine, thanks.", "length", Usage(12, 4))
    assert "Authorization" not in server.chat_requests[0].headers  # no key configured: none sent


async def test_without_reported_usage_tokens_are_estimated(session, server):
    server.queue(Reply(text="12345678", usage=None))
    result = await client(session, server, include_usage=False).chat(ASK)
    assert result.usage.estimated and result.usage.completion_tokens == 2
    assert "stream_options" not in server.chat_requests[0].json


async def test_stream_ending_after_finish_reason_without_done_is_complete(session, server):
    server.queue(Reply(text="All here.", send_done=False))
    assert (await client(session, server).chat(ASK)).text == "All here."


@pytest.mark.parametrize("openrouter_style", [False, True])
async def test_error_event_inside_a_200_stream_is_a_failure(session, openrouter_style):
    async with FakeLLMServer(openrouter=openrouter_style) as s:
        s.queue(Reply(error_after=1, error="Provider disconnected unexpectedly"))
        events = []
        with pytest.raises(StreamBroken, match="Provider disconnected unexpectedly"):
            async for event in client(session, s).stream(ASK):
                events.append(event)
    assert events == [TextDelta("Hello ")]


@pytest.mark.parametrize("reply, message", [
    (Reply(truncate_after=2), r"ended before its final \[DONE\]"),
    (Reply(truncate_after=0), r"ended before its final \[DONE\]"),
    (Reply(garbage_after=2), "malformed event"),
])
async def test_cut_off_or_malformed_streams_are_failures(session, server, reply, message):
    server.queue(reply)
    with pytest.raises(StreamBroken, match=message):
        await collect(client(session, server))


async def test_vllm_style_error_object_inside_the_stream(session):
    from aiohttp import web

    async def handler(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        await response.write(b'data: {"object":"error","message":"out of KV cache","type":"BadRequestError",'
                             b'"param":null,"code":503}\n\n')
        await response.write_eof()
        return response

    app = web.Application()
    app.router.add_post("/v1/chat/completions", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        port = runner.addresses[0][1]
        provider = OpenAICompatProvider(session, "openai", f"http://127.0.0.1:{port}/v1", "m",
                                        options=GenerationOptions(), timeouts=RELAXED)
        with pytest.raises(TransientError, match="out of KV cache") as caught:
            await collect(provider)
        assert caught.value.status == 503
    finally:
        await runner.cleanup()


async def test_wrong_key_is_auth_failed_and_the_key_never_shows(session, openrouter):
    with pytest.raises(AuthFailed) as caught:
        await collect(client(session, openrouter, key="sk-or-v1-wrongwrongwrong"))
    assert caught.value.status == 401 and "wrongwrong" not in str(caught.value)


async def test_a_key_of_any_shape_echoed_by_the_server_is_masked(session, server):
    key = "gsk_live_Q7w8E9r0T1y2U3i4"
    server.queue(Reply(status=401, error=f"Invalid API Key: {key}"), Reply(error_after=0, error=f"bad key {key}"))
    provider = client(session, server, key=key, name="openai")
    for _ in range(2):
        with pytest.raises(ServiceError) as caught:
            await collect(provider)
        assert key not in str(caught.value) and key not in caught.value.cause and "***" in caught.value.cause


@pytest.mark.parametrize("reply, error, status", [
    (Reply(status=402, error="Insufficient credits"), OutOfCredit, 402),
    (Reply(status=400, error="This model's maximum context length is 8192 tokens."), ContextTooLong, 400),
    (Reply(status=400, error="temperature must be <= 2"), BadRequest, 400),
    (Reply(status=403, error="Your input was flagged by moderation"), BadRequest, 403),
    (Reply(status=503, error="No available provider"), TransientError, 503),
])
async def test_http_errors_are_classified(session, openrouter, reply, error, status):
    openrouter.queue(reply)
    with pytest.raises(error) as caught:
        await collect(client(session, openrouter))
    assert caught.value.status == status


async def test_429_with_retry_after(session, server):
    server.queue(Reply(status=429, error="Rate limit exceeded: free-models-per-min", retry_after="3"))
    with pytest.raises(RateLimited, match="free-models-per-min") as caught:
        await collect(client(session, server))
    assert caught.value.retry_after == 3.0


async def test_unknown_model(session, server, openrouter):
    with pytest.raises(ModelNotFound, match="does not exist"):
        await collect(client(session, server), model="gpt-9")
    with pytest.raises(BadRequest, match="not a valid model ID"):  # OpenRouter says 400
        await collect(client(session, openrouter), model="nobody/nothing")


async def test_slow_first_token_despite_keepalive_comments(session, server):
    server.queue(Reply(keepalives=3, first_token_delay=3))
    with pytest.raises(StreamTimeout, match="first token"):
        await collect(client(session, server, timeouts=Timeouts(2, first_token=0.3, token_gap=5, total=20)))


async def test_stall_mid_stream(session, server):
    server.queue(Reply(stall_after=1))
    with pytest.raises(StreamTimeout, match="token gap"):
        await collect(client(session, server, timeouts=Timeouts(2, first_token=5, token_gap=0.3, total=20)))


async def test_refused_connection(session):
    provider = OpenAICompatProvider(session, "openai", refused_url() + "/v1", "m", options=GenerationOptions(),
                                    timeouts=RELAXED)
    with pytest.raises(TransientError, match="cannot connect"):
        await collect(provider)


async def test_probe_checks_the_key_and_the_models(session, openrouter):
    provider = client(session, openrouter, key_check_path="/key")
    assert await provider.probe(["gpt-4o-mini", "meta-llama/llama-3.3-70b-instruct:free", "x/y"]) == ["x/y"]
    assert [r.path for r in openrouter.requests] == ["/v1/key", "/v1/models"]
    with pytest.raises(AuthFailed):
        await client(session, openrouter, key="sk-or-v1-badbadbadbad", key_check_path="/key").probe([])
    assert "meta-llama/llama-3.3-70b-instruct:free" in await provider.list_models()


async def test_probe_without_key_check_uses_the_authenticated_model_list(session):
    async with FakeLLMServer(api_key="sk-secret-openai-key") as s:
        assert await client(session, s, key="sk-secret-openai-key", name="openai").probe(["gpt-4o-mini"]) == []
        with pytest.raises(AuthFailed):
            await client(session, s, key="sk-nope-nope-nope", name="openai").probe(["gpt-4o-mini"])
