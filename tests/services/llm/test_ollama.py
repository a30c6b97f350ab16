"""The Ollama client against a local server speaking /api/chat NDJSON and /api/tags."""

from __future__ import annotations

import pytest

from devtools.fakes.llm_server import FakeLLMServer, Reply, hanging_listener, refused_url
from services.errors import TransientError
from services.llm.base import GenerationOptions, Message, StreamEnd, TextDelta, Timeouts, Usage
from services.llm.errors import ModelNotFound, RateLimited, StreamBroken, StreamTimeout, WrongEndpoint
from services.llm.ollama import OllamaOptions, OllamaProvider

ASK = [Message("system", "Be brief."), Message("user", "What is 2+2?", name="Ann")]
RELAXED = Timeouts(connect=2, first_token=5, token_gap=5, total=20)


def ollama(session, url: str, timeouts: Timeouts = RELAXED) -> OllamaProvider:
    return OllamaProvider(session, url, "llama3.2", options=GenerationOptions(temperature=0.3, max_tokens=64),
                          timeouts=timeouts, ollama_options=OllamaOptions(num_ctx=2048, keep_alive="10m"))


async def collect(provider: OllamaProvider, **kwargs) -> list:
    return [event async for event in provider.stream(ASK, **kwargs)]


async def test_streams_deltas_then_usage_and_sends_settings(session, server):
    server.queue(Reply(chunks=["Two ", "plus two ", "is four."], usage=(31, 9)))
    events = await collect(ollama(session, server.url))
    assert events == [TextDelta("Two "), TextDelta("plus two "), TextDelta("is four."),
                      StreamEnd("stop", Usage(31, 9))]
    body = server.chat_requests[0].json
    assert body["model"] == "llama3.2" and body["stream"] is True and body["keep_alive"] == "10m"
    assert body["options"] == {"num_ctx": 2048, "top_p": 0.9, "top_k": 40, "min_p": 0.05, "repeat_penalty": 1.1,
                               "temperature": 0.3, "num_predict": 64}
    assert body["messages"] == [{"role": "system", "content": "Be brief."},
                                {"role": "user", "content": "Ann: What is 2+2?"}]


async def test_chat_returns_the_whole_answer_and_estimates_missing_counts(session, server):
    server.queue(Reply(text="Four, obviously.", usage=None, finish_reason="length"))
    result = await ollama(session, server.url).chat(ASK, model="llama3.2:1b",
                                                    options=GenerationOptions(temperature=1.5))
    assert result.text == "Four, obviously." and result.finish_reason == "length"
    assert result.usage.estimated and result.usage.completion_tokens == 4 and result.usage.prompt_tokens > 0
    body = server.chat_requests[0].json
    assert body["model"] == "llama3.2:1b" and body["options"]["temperature"] == 1.5
    assert body["options"]["num_predict"] == 64  # not overridden: the configured default


async def test_error_line_inside_a_200_stream_is_a_failure(session, server):
    server.queue(Reply(error_after=2, error="model runner has unexpectedly stopped"))
    events = []
    with pytest.raises(StreamBroken, match="model runner has unexpectedly stopped"):
        async for event in ollama(session, server.url).stream(ASK):
            events.append(event)
    assert events == [TextDelta("Hello "), TextDelta("from ")]


@pytest.mark.parametrize("reply, message", [
    (Reply(truncate_after=3), "ended before its final"),
    (Reply(truncate_after=0), "ended before its final"),
    (Reply(garbage_after=1), "malformed line"),
])
async def test_cut_off_or_malformed_streams_are_failures(session, server, reply, message):
    server.queue(reply)
    with pytest.raises(StreamBroken, match=message):
        await collect(ollama(session, server.url))


async def test_dropped_connection_mid_stream_is_transient(session, server):
    server.queue(Reply(reset_after=1))
    with pytest.raises(TransientError, match=r"cut off|closed the connection"):
        await collect(ollama(session, server.url))


async def test_refused_connection_is_transient(session):
    with pytest.raises(TransientError, match="cannot connect"):
        await collect(ollama(session, refused_url()))


async def test_connect_timeout(session):
    with hanging_listener() as url:
        provider = ollama(session, url, Timeouts(connect=0.3, first_token=5, token_gap=5, total=20))
        with pytest.raises(StreamTimeout, match=r"connect timeout after 0\.3 s") as caught:
            await collect(provider)
    assert caught.value.phase == "connect"


async def test_unknown_model_is_model_not_found(session, server):
    with pytest.raises(ModelNotFound, match='model "qwen9" not found, try pulling it first') as caught:
        await collect(ollama(session, server.url), model="qwen9")
    assert caught.value.status == 404 and not caught.value.transient


async def test_429_carries_retry_after(session, server):
    server.queue(Reply(status=429, error="server busy", retry_after="7"))
    with pytest.raises(RateLimited) as caught:
        await collect(ollama(session, server.url))
    assert caught.value.retry_after == 7.0 and caught.value.status == 429


async def test_slow_first_token_times_out(session, server):
    server.queue(Reply(first_token_delay=3))
    provider = ollama(session, server.url, Timeouts(connect=2, first_token=0.3, token_gap=5, total=20))
    with pytest.raises(StreamTimeout, match=r"first token timeout after 0\.3 s") as caught:
        await collect(provider)
    assert caught.value.phase == "first_token"


async def test_slow_headers_count_against_the_first_token_too(session, server):
    server.queue(Reply(headers_delay=3))
    provider = ollama(session, server.url, Timeouts(connect=2, first_token=0.3, token_gap=5, total=20))
    with pytest.raises(StreamTimeout, match="first token"):
        await collect(provider)


async def test_stall_between_tokens_times_out_after_the_first_tokens(session, server):
    server.queue(Reply(stall_after=2))
    provider = ollama(session, server.url, Timeouts(connect=2, first_token=5, token_gap=0.3, total=20))
    events = []
    with pytest.raises(StreamTimeout, match=r"token gap timeout after 0\.3 s"):
        async for event in provider.stream(ASK):
            events.append(event)
    assert len(events) == 2


async def test_a_steady_stream_may_outlast_the_first_token_timeout(session, server):
    server.queue(Reply(text="a b c d e f g h", token_delay=0.15))  # ~1 s in all, 0.15 s gaps
    provider = ollama(session, server.url, Timeouts(connect=2, first_token=0.6, token_gap=0.6, total=20))
    assert (await provider.chat(ASK)).text == "a b c d e f g h"


async def test_total_timeout_caps_a_slow_but_steady_stream(session, server):
    server.queue(Reply(text="a b c d e f g h i j k l", token_delay=0.1))
    provider = ollama(session, server.url, Timeouts(connect=2, first_token=0.5, token_gap=1, total=0.5))
    with pytest.raises(StreamTimeout, match=r"total timeout after 0\.5 s"):
        await collect(provider)


async def test_probe_and_list_models(session, server):
    provider = ollama(session, server.url)
    assert await provider.list_models() == ["llama3.2:latest", "llama3.2:1b"]
    assert await provider.probe(["llama3.2", "llama3.2:1b", "mistral"]) == ["mistral"]
    with pytest.raises(TransientError, match="cannot connect"):
        await ollama(session, refused_url()).probe(["llama3.2"])


async def test_probe_of_a_server_that_is_not_ollama(session):
    async with FakeLLMServer() as other:
        provider = ollama(session, other.url + "/nothing-here")
        with pytest.raises(WrongEndpoint, match=r"/nothing-here/api/tags answered 404: is OLLAMA_HOST right\?"):
            await provider.probe(["llama3.2"])
