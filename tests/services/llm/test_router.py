"""The router's fallback, as the caller sees it: text, switch markers, errors; real local servers."""

from __future__ import annotations

import pytest

from devtools.fakes.llm_server import Reply, refused_url
from services.llm.base import Message, TextDelta
from services.llm.errors import AllProvidersFailed, AuthFailed, ModelNotFound, StreamBroken
from services.llm.router import ChatResult, ProviderSwitch
from services.storage.sqlite.health import SqliteHealthStore

ASK = [Message("user", "Tell me a story.", name="Ann")]


def chain(primary_url: str, backup_url: str, **env: str) -> dict[str, str]:
    """Ollama first, then an OpenAI-compatible server."""
    return {"LLM_PROVIDER": "ollama", "OLLAMA_HOST": primary_url, "LLM_FALLBACK_ENABLED": "true",
            "LLM_FALLBACK_MODELS": "openai:gpt-4o-mini", "OPENAI_BASE_URL": backup_url, **env}


async def run(router, messages=ASK) -> list:
    return [event async for event in router.stream(messages)]


def text_of(events: list) -> str:
    return "".join(e.text for e in events if isinstance(e, TextDelta))


async def test_healthy_primary_answers_and_marks_itself_healthy(make_router, server, backup, db):
    router = make_router(**chain(server.url, backup.openai_url))
    events = await run(router)
    result = events[-1]
    assert isinstance(result, ChatResult) and not any(isinstance(e, ProviderSwitch) for e in events)
    assert (result.text, result.provider, result.model, result.failures) == (
        "Hello from the fake model.", "ollama", "llama3.2", ())
    assert result.ttft_ms is not None and result.latency_ms >= result.ttft_ms
    assert not backup.requests
    health = await SqliteHealthStore(db).get("llm:ollama")
    assert health is not None and (health.status, health.circuit_state) == ("healthy", "closed")


async def test_refused_primary_falls_back_invisibly_before_the_first_token(make_router, backup, db):
    router = make_router(**chain(refused_url(), backup.openai_url))
    events = await run(router)
    result = events[-1]
    assert text_of(events) == result.text == "Hello from the fake model."
    assert not any(isinstance(e, ProviderSwitch) for e in events)
    assert (result.provider, result.model) == ("openai", "gpt-4o-mini")
    assert [(f.provider, f.after_first_token) for f in result.failures] == [("ollama", False)]
    assert "cannot connect" in result.failures[0].reason
    health = await SqliteHealthStore(db).get("llm:ollama")
    assert health is not None and health.status == "degraded" and health.consecutive_failures == 1


async def test_slow_first_token_moves_on_within_the_first_token_timeout(make_router, server, backup):
    server.queue(Reply(first_token_delay=5))
    router = make_router(**chain(server.url, backup.openai_url, LLM_FIRST_TOKEN_TIMEOUT="0.3"))
    result = (await run(router))[-1]
    assert result.provider == "openai" and "first token timeout" in result.failures[0].reason


@pytest.mark.parametrize("broken", [
    Reply(chunks=["Once ", "upon ", "a "], error_after=2, error="CUDA out of memory"),
    Reply(chunks=["Once ", "upon ", "a "], truncate_after=2),
    Reply(chunks=["Once ", "upon ", "a "], reset_after=2),
    Reply(chunks=["Once ", "upon ", "a "], garbage_after=2),
    Reply(chunks=["Once ", "upon ", "a "], stall_after=2),
], ids=["error-in-stream", "truncated", "reset", "malformed", "stall"])
async def test_mid_answer_failure_continues_on_the_next_provider_and_says_so(make_router, server, backup, broken):
    server.queue(broken)
    backup.queue(Reply(chunks=["a time ", "there was a fox."]))
    router = make_router(**chain(server.url, backup.openai_url, LLM_TOKEN_GAP_TIMEOUT="0.3"))
    events = await run(router)
    switch_at = next(i for i, e in enumerate(events) if isinstance(e, ProviderSwitch))
    assert text_of(events[:switch_at]) == "Once upon "
    switch = events[switch_at]
    assert (switch.from_provider, switch.from_model, switch.to_provider, switch.to_model) == (
        "ollama", "llama3.2", "openai", "gpt-4o-mini")
    assert switch.reason
    result = events[-1]
    assert result.text == text_of(events) == "Once upon a time there was a fox."
    assert result.switches == (switch,) and result.provider == "openai"
    assert result.failures[0].after_first_token
    # The fallback was asked to continue the partial answer, given as the assistant's start.
    sent = backup.chat_requests[0].json["messages"]
    assert sent == [{"role": "user", "content": "Ann: Tell me a story."},
                    {"role": "assistant", "content": "Once upon "}]


async def test_everything_down_raises_one_error_listing_every_reason(make_router, backup):
    backup.queue(Reply(status=401, error="Incorrect API key provided"))
    router = make_router(**chain(refused_url(), backup.openai_url, LLM_FALLBACK_MODELS="openai:gpt-4o-mini,openrouter:x/y"))
    with pytest.raises(AllProvidersFailed) as caught:
        await run(router)
    reasons = caught.value.reasons()
    assert reasons[0].startswith("ollama:llama3.2: cannot connect")
    assert reasons[1].startswith("openai:gpt-4o-mini: Incorrect API key provided") and "HTTP 401" in reasons[1]
    assert reasons[2] == "openrouter:x/y: not configured: set OPENROUTER_API_KEY"
    assert caught.value.partial_text == "" and caught.value.transient


async def test_a_broken_answer_that_nothing_can_continue_is_never_silently_short(make_router, server, sleeps):
    server.queue(Reply(chunks=["Once ", "upon "], error_after=1))
    server.default = Reply(status=503, error="loading model")
    router = make_router(LLM_PROVIDER="ollama", OLLAMA_HOST=server.url, API_RETRY_ATTEMPTS="2")
    events = []
    with pytest.raises(AllProvidersFailed) as caught:
        async for event in router.stream(ASK):
            events.append(event)
    assert events == [TextDelta("Once ")]
    assert caught.value.partial_text == "Once "
    assert [a.after_first_token for a in caught.value.attempts] == [True, False]


async def test_retry_after_within_the_cap_is_honoured_then_retried(make_router, server, sleeps):
    server.queue(Reply(status=429, error="too many requests", retry_after="4"))
    router = make_router(LLM_PROVIDER="ollama", OLLAMA_HOST=server.url)
    result = (await run(router))[-1]
    assert result.text == "Hello from the fake model." and len(server.chat_requests) == 2
    assert sleeps.delays == [4.0]


async def test_retry_after_beyond_the_cap_is_not_waited_for(make_router, server, backup, sleeps):
    server.queue(Reply(status=429, error="daily limit", retry_after="3600"))
    router = make_router(**chain(server.url, backup.openai_url))
    result = (await run(router))[-1]
    assert result.provider == "openai" and sleeps.delays == []
    server.queue(Reply(status=429, error="daily limit", retry_after="3600"))
    with pytest.raises(AllProvidersFailed, match="daily limit"):
        await run(make_router(LLM_PROVIDER="ollama", OLLAMA_HOST=server.url))
    assert sleeps.delays == [] and len(server.chat_requests) == 2


async def test_transient_errors_back_off_exponentially_with_jitter(make_router, server, sleeps):
    server.default = Reply(status=503, error="overloaded")
    router = make_router(LLM_PROVIDER="ollama", OLLAMA_HOST=server.url, API_RETRY_ATTEMPTS="3",
                         API_RETRY_DELAY="0.5", LLM_CIRCUIT_FAILURE_THRESHOLD="10")
    with pytest.raises(AllProvidersFailed, match="overloaded"):
        await run(router)
    assert len(server.chat_requests) == 3
    first, second = sleeps.delays
    assert 0.25 <= first <= 0.5 and 0.5 <= second <= 1.0


async def test_fallback_answers_at_once_while_the_primary_waits_its_backoff(make_router, server, backup, sleeps):
    server.queue(Reply(status=503))
    router = make_router(**chain(server.url, backup.openai_url))
    assert (await run(router))[-1].provider == "openai" and sleeps.delays == []


async def test_permanent_errors_are_not_retried(make_router, server, backup, sleeps):
    backup_env = chain(server.url, backup.openai_url, LLM_PROVIDER="openai", LLM_FALLBACK_MODELS="ollama:llama3.2:1b",
                       OPENAI_MODEL="gpt-9")
    router = make_router(**backup_env)
    result = (await run(router))[-1]
    assert (result.provider, result.model) == ("ollama", "llama3.2:1b")
    assert isinstance(result.failures[0].error, ModelNotFound)
    assert len(backup.chat_requests) == 1 and sleeps.delays == []


async def test_bad_key_drops_the_provider_and_opens_its_circuit(make_router, server, db):
    from devtools.fakes.llm_server import FakeLLMServer

    async with FakeLLMServer(api_key="sk-right-key-123456") as keyed:
        env = chain(server.url, keyed.openai_url, LLM_PROVIDER="openai", OPENAI_API_KEY="sk-wrong-key-123456",
                    LLM_FALLBACK_MODELS="openai:gpt-4o-mini,ollama:llama3.2")
        router = make_router(OPENAI_MODEL="meta-llama/llama-3.3-70b-instruct:free", **env)
        result = (await run(router))[-1]
        assert result.provider == "ollama" and len(keyed.chat_requests) == 1  # the 2nd openai model is not tried
        assert isinstance(result.failures[0].error, AuthFailed)
    health = await SqliteHealthStore(db).get("llm:openai")
    assert health is not None and (health.status, health.circuit_state) == ("down", "open")
    assert "wrong-key" not in (health.last_error or "")


async def test_error_in_stream_before_any_text_falls_back_invisibly(make_router, server, backup):
    server.queue(Reply(error_after=0, error="llama runner process has terminated"))
    events = await run(make_router(**chain(server.url, backup.openai_url)))
    assert not any(isinstance(e, ProviderSwitch) for e in events)
    assert isinstance(events[-1].failures[0].error, StreamBroken)


async def test_chat_returns_the_same_metadata(make_router, server, backup):
    server.queue(Reply(chunks=["Half "], error_after=1))
    backup.queue(Reply(chunks=["and half."]))
    result = await make_router(**chain(server.url, backup.openai_url)).chat(ASK)
    assert result.text == "Half and half." and len(result.switches) == 1 and not result.cached
