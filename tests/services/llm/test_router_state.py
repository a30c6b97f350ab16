"""What the router remembers: circuits across restarts, usage and budgets, cache, limits, health."""

from __future__ import annotations

import asyncio

import pytest

from devtools.fakes.llm_server import Reply, refused_url
from services.llm.base import Message, TextDelta
from services.llm.errors import AllProvidersFailed, BudgetExhausted
from services.resilience import CircuitOpen
from services.storage.sqlite.health import SqliteHealthStore
from services.storage.sqlite.usage import SqliteUsageStore
from tests.services.llm.conftest import Clock

ASK = [Message("user", "Hi")]
DAY = 86_400


async def answer(router):
    return [event async for event in router.stream(ASK)][-1]


def only_ollama(url: str, **env: str) -> dict[str, str]:
    return {"LLM_PROVIDER": "ollama", "OLLAMA_HOST": url, "API_RETRY_ATTEMPTS": "1", **env}


def with_fallback(url: str, backup: str, **env: str) -> dict[str, str]:
    return {**only_ollama(url, **env), "LLM_FALLBACK_ENABLED": "true", "LLM_FALLBACK_MODELS": "openai:gpt-4o-mini",
            "OPENAI_BASE_URL": backup}


async def test_circuit_opens_is_skipped_for_free_survives_restart_and_recovers(make_router, server, backup, db):
    clock = Clock()
    env = with_fallback(server.url, backup.openai_url, LLM_CIRCUIT_FAILURE_THRESHOLD="2", LLM_CIRCUIT_COOLDOWN="30")
    server.queue(Reply(status=500, error="boom"), Reply(status=500, error="boom"))
    router = make_router(clock, **env)
    for _ in range(2):
        assert (await answer(router)).provider == "openai"
    health = await SqliteHealthStore(db).get("llm:ollama")
    assert health is not None and (health.status, health.circuit_state, health.consecutive_failures) == (
        "down", "open", 2)

    # Open, with another provider there: skipped without a request, with the reason.
    result = await answer(router)
    assert result.provider == "openai" and "circuit open after 2 failures; next try in 30 s" in result.failures[0].reason
    assert isinstance(result.failures[0].error, CircuitOpen) and result.failures[0].skipped
    assert len(server.chat_requests) == 2

    # A restart (new router, same database) keeps the circuit open.
    clock.now += 10
    restarted = make_router(clock, **env)
    assert "next try in 20 s" in (await answer(restarted)).failures[0].reason
    assert len(server.chat_requests) == 2

    # After the cooldown one trial goes through; its success closes the circuit.
    clock.now += 21
    assert (await answer(restarted)).provider == "ollama"
    health = await SqliteHealthStore(db).get("llm:ollama")
    assert health is not None and (health.status, health.circuit_state, health.consecutive_failures) == (
        "healthy", "closed", 0)


async def test_failed_half_open_trial_reopens_with_a_longer_cooldown(make_router, server, backup, db):
    clock = Clock()
    env = with_fallback(server.url, backup.openai_url, LLM_CIRCUIT_FAILURE_THRESHOLD="1", LLM_CIRCUIT_COOLDOWN="30",
                        LLM_CIRCUIT_COOLDOWN_MAX="100")
    server.default = Reply(status=502, error="bad gateway")
    router = make_router(clock, **env)
    await answer(router)
    clock.now += 31
    assert "bad gateway" in (await answer(router)).failures[0].reason  # the trial
    assert "next try in 60 s" in (await answer(router)).failures[0].reason  # 30 s doubled
    clock.now += 61
    await answer(router)  # another failed trial: 120 s, capped at 100
    assert "next try in 100 s" in (await answer(router)).failures[0].reason
    assert len(server.chat_requests) == 3
    health = await SqliteHealthStore(db).get("llm:ollama")
    assert health is not None and health.circuit_opened_at == clock.now
    server.default = Reply()
    clock.now += 101
    assert (await answer(router)).provider == "ollama"
    assert router.breakers["ollama"].cooldown == 30  # a success brings the short cool-down back


async def test_when_every_circuit_is_open_the_soonest_gets_its_trial_at_once(make_router, server, backup):
    clock = Clock()
    env = with_fallback(server.url, backup.openai_url, LLM_CIRCUIT_FAILURE_THRESHOLD="1", LLM_CIRCUIT_COOLDOWN="300")
    server.queue(Reply(status=500))
    backup.queue(Reply(status=500))
    router = make_router(clock, **env)
    with pytest.raises(AllProvidersFailed):
        await answer(router)  # both fail: both circuits open for 300 s
    clock.now += 5
    router.breakers["openai"]._opened_at -= 100  # the fallback's cool-down ends first
    # Both providers are back: the next request does not wait 195 s, it tries the fallback now.
    result = await answer(router)
    assert result.provider == "openai" and len(backup.chat_requests) == 2 and len(server.chat_requests) == 1
    assert router.breakers["openai"].state == "closed"
    assert (await answer(router)).provider == "openai"  # ollama is still resting; openai answers


async def test_an_early_trial_is_made_once_and_others_wait_for_its_outcome(make_router, server):
    clock = Clock()
    env = only_ollama(server.url, LLM_CIRCUIT_FAILURE_THRESHOLD="1", LLM_CIRCUIT_COOLDOWN="300")
    server.queue(Reply(status=500), Reply(first_token_delay=0.3, text="back"))
    router = make_router(clock, **env)
    with pytest.raises(AllProvidersFailed):
        await answer(router)
    results = await asyncio.gather(*(answer(router) for _ in range(4)))
    # One trial (the slow "back"); the other three were not refused while it ran: they waited for
    # its outcome and then went, each answered.
    assert [r.text for r in results].count("back") == 1 and len(server.chat_requests) == 5
    assert router.breakers["ollama"].state == "closed"


async def test_only_one_half_open_trial_at_a_time(make_router, server, backup):
    clock = Clock()
    env = {**only_ollama(server.url, LLM_CIRCUIT_FAILURE_THRESHOLD="1", LLM_CIRCUIT_COOLDOWN="30"),
           "LLM_FALLBACK_ENABLED": "true", "LLM_FALLBACK_MODELS": "openai:gpt-4o-mini",
           "OPENAI_BASE_URL": backup.openai_url}
    server.queue(Reply(status=500))
    router = make_router(clock, **env)
    assert (await answer(router)).provider == "openai"
    clock.now += 31
    server.queue(Reply(first_token_delay=0.5))
    trial = asyncio.create_task(answer(router))
    await server.wait_for_chat_requests(2)
    second = await answer(router)  # while the trial is in flight: skipped, answered by the fallback
    assert second.provider == "openai" and "trial request is in flight" in second.failures[0].reason
    assert (await trial).provider == "ollama"


async def test_request_specific_errors_do_not_open_the_circuit(make_router, server, db):
    router = make_router(**only_ollama(server.url, OLLAMA_MODEL="not-pulled", LLM_CIRCUIT_FAILURE_THRESHOLD="1"))
    for _ in range(3):
        with pytest.raises(AllProvidersFailed, match="not found"):
            await answer(router)
    assert len(server.chat_requests) == 3
    assert await SqliteHealthStore(db).get("llm:ollama") is None  # the server itself is fine


async def test_usage_is_persisted_per_provider_and_day(make_router, server, backup, db):
    clock = Clock()
    env = {**only_ollama(refused_url()), "LLM_FALLBACK_ENABLED": "true", "LLM_FALLBACK_MODELS": "openai:gpt-4o-mini",
           "OPENAI_BASE_URL": backup.openai_url}
    backup.queue(Reply(usage=(100, 20)), Reply(usage=None, text="abcdefgh"))
    router = make_router(clock, **env)
    await answer(router)
    await answer(router)
    rows = {u.provider: u for u in await SqliteUsageStore(db, clock=clock).for_day()}
    assert (rows["ollama"].requests, rows["ollama"].errors, rows["ollama"].total_tokens) == (2, 2, 0)
    openai = rows["openai"]
    assert (openai.requests, openai.errors, openai.fallbacks) == (2, 0, 2)
    assert (openai.completion_tokens, openai.estimated_requests) == (20 + 2, 1)
    assert openai.prompt_tokens > 100 and openai.avg_ttft_ms is not None and openai.avg_latency_ms is not None
    clock.now += DAY
    assert await SqliteUsageStore(db, clock=clock).for_day() == []
    assert [u.day for u in await SqliteUsageStore(db, clock=clock).recent(7)] == [openai.day] * 2


async def test_daily_budget_skips_the_provider_with_a_reason_until_tomorrow(make_router, server, db):
    clock = Clock()
    env = only_ollama(server.url, LLM_DAILY_TOKEN_BUDGET="ollama:25")
    server.default = Reply(usage=(10, 10))
    router = make_router(clock, **env)
    await answer(router)  # 20 tokens: under budget
    await answer(router)  # 40: the budget is now spent
    with pytest.raises(AllProvidersFailed, match=r"daily token budget spent \(40 of 25 tokens today") as caught:
        await answer(router)
    assert isinstance(caught.value.attempts[0].error, BudgetExhausted) and len(server.chat_requests) == 2
    with pytest.raises(AllProvidersFailed, match="budget"):
        await answer(make_router(clock, **env))  # a restart remembers today's spending
    clock.now += DAY
    assert (await answer(make_router(clock, **env))).provider == "ollama"


async def test_identical_non_streamed_requests_are_cached(make_router, server):
    router = make_router(**only_ollama(server.url, API_CACHE_ENABLED="true", API_CACHE_TTL="60"))
    first = await router.chat(ASK, temperature=0.1)
    second = await router.chat(ASK, temperature=0.1)
    assert not first.cached and second.cached and second.text == first.text and second.usage == first.usage
    assert len(server.chat_requests) == 1
    await router.chat(ASK, temperature=0.2)
    await router.chat([Message("user", "Hi", name="Bob")], temperature=0.1)
    await answer(router)  # streams are never served from the cache
    assert len(server.chat_requests) == 4


async def test_cache_is_off_when_disabled(make_router, server):
    router = make_router(**only_ollama(server.url, API_CACHE_ENABLED="false"))
    await router.chat(ASK)
    assert not (await router.chat(ASK)).cached and len(server.chat_requests) == 2


async def test_concurrency_is_limited_per_provider(make_router, server):
    server.default = Reply(chunks=["a", "b", "c"], token_delay=0.05)
    router = make_router(**only_ollama(server.url, LLM_MAX_CONCURRENCY="2"))
    results = await asyncio.gather(*(answer(router) for _ in range(6)))
    assert all(r.text == "abc" for r in results)
    assert server.max_in_flight == 2 and len(server.chat_requests) == 6


async def test_a_full_provider_is_skipped_after_the_longest_wait_in_line(make_router, server, backup):
    server.default = Reply(stall_after=1)
    env = {**only_ollama(server.url, LLM_MAX_CONCURRENCY="1", QUEUE_MAX_WAIT="0.3", LLM_TOKEN_GAP_TIMEOUT="5"),
           "LLM_FALLBACK_ENABLED": "true", "LLM_FALLBACK_MODELS": "openai:gpt-4o-mini",
           "OPENAI_BASE_URL": backup.openai_url}
    router = make_router(**env)
    first = router.stream(ASK)
    assert isinstance(await anext(first), TextDelta)  # holds the only slot
    result = await answer(router)
    assert result.provider == "openai" and "still number 1 in line" in result.failures[0].reason
    await first.aclose()
    server.default = Reply()
    assert (await answer(router)).provider == "ollama"  # the slot was given back


async def test_a_caller_that_stops_reading_frees_the_slot_and_pays_the_tokens(make_router, server, db):
    clock = Clock()
    server.default = Reply(chunks=["x" * 40, "y" * 40, "z"])
    router = make_router(clock, **only_ollama(server.url, LLM_MAX_CONCURRENCY="1"))
    async for _ in router.stream(ASK):
        break
    assert (await answer(router)).provider == "ollama"
    row = {u.provider: u for u in await SqliteUsageStore(db, clock=clock).for_day()}["ollama"]
    assert row.requests == 2 and row.estimated_requests == 1 and row.completion_tokens >= 10 + 7


async def test_probe_writes_every_provider_to_the_health_store(make_router, server, db):
    env = {"LLM_PROVIDER": "ollama", "OLLAMA_HOST": server.url, "LLM_FALLBACK_ENABLED": "true",
           "LLM_FALLBACK_MODELS": "ollama:llama3.2:1b,ollama:mistral,openai:gpt-4o-mini",
           "OPENAI_BASE_URL": refused_url() + "/v1"}
    results = {h.service: h for h in await make_router(**env).probe()}
    assert set(results) == {"llm:ollama", "llm:openai", "llm:openrouter"}
    ollama = await SqliteHealthStore(db).get("llm:ollama")
    assert ollama is not None and ollama.status == "degraded"
    assert ollama.detail == "model not on the server: mistral (run: ollama pull mistral)"
    openai = await SqliteHealthStore(db).get("llm:openai")
    assert openai is not None and openai.status == "degraded" and "cannot connect" in (openai.last_error or "")
    openrouter = await SqliteHealthStore(db).get("llm:openrouter")
    assert openrouter is not None and openrouter.status == "disabled"
    assert openrouter.detail == "not used: name it in LLM_PROVIDER or LLM_FALLBACK_MODELS"


async def test_a_successful_probe_closes_an_open_circuit_at_once(make_router, server, backup, db):
    clock = Clock()
    env = with_fallback(server.url, backup.openai_url, LLM_CIRCUIT_FAILURE_THRESHOLD="1", LLM_CIRCUIT_COOLDOWN="300")
    server.queue(Reply(status=500))
    router = make_router(clock, **env)
    assert (await answer(router)).provider == "openai"
    [health, *_] = await router.probe()
    assert (health.status, health.circuit_state, health.detail) == ("healthy", "closed", "models ok: llama3.2")
    assert router.breakers["ollama"].state == "closed"
    assert (await answer(router)).provider == "ollama"  # the primary again, long before its 300 s


async def test_a_probe_that_finds_a_model_missing_only_half_opens(make_router, server, backup, db):
    env = with_fallback(server.url, backup.openai_url, OLLAMA_MODEL="mistral", LLM_CIRCUIT_FAILURE_THRESHOLD="1",
                        LLM_CIRCUIT_COOLDOWN="300")
    server.queue(Reply(status=500))
    router = make_router(Clock(), **env)
    await answer(router)
    [health, *_] = await router.probe()
    assert (health.status, health.circuit_state) == ("degraded", "half_open")
