"""Settings -> providers, chain and limits; the colon rule of LLM_FALLBACK_MODELS end to end."""

from __future__ import annotations

from devtools.fakes.llm_server import FakeLLMServer
from services.llm.base import Message
from services.llm.factory import build_chain, build_router
from services.llm.ollama import OllamaProvider
from services.llm.openai_compat import OpenAICompatProvider
from services.llm.router import LLMRouter, Target
from services.storage.backend import SqliteBackend
from services.storage.sqlite.health import SqliteHealthStore
from services.storage.sqlite.usage import SqliteUsageStore
from tests.services.llm.conftest import settings


def test_chain_splits_each_entry_at_the_first_colon_and_drops_duplicates():
    s = settings(LLM_PROVIDER="ollama", OLLAMA_MODEL="llama3.2", LLM_FALLBACK_ENABLED="true",
                 LLM_FALLBACK_MODELS="ollama:llama3.2:1b, openrouter:meta-llama/llama-3.3-70b-instruct:free,"
                                     "ollama:llama3.2")
    assert build_chain(s) == (Target("ollama", "llama3.2"), Target("ollama", "llama3.2:1b"),
                              Target("openrouter", "meta-llama/llama-3.3-70b-instruct:free"))


def test_fallbacks_are_ignored_unless_enabled():
    s = settings(LLM_PROVIDER="openai", OPENAI_BASE_URL="http://127.0.0.1:9/v1", OPENAI_MODEL="qwen",
                 LLM_FALLBACK_MODELS="ollama:llama3.2")
    assert build_chain(s) == (Target("openai", "qwen"),)


async def test_router_is_built_with_the_settings(session, db):
    s = settings(LLM_PROVIDER="openrouter", OPENROUTER_API_KEY="sk-or-v1-abcdefabcdef", LLM_FALLBACK_ENABLED="true",
                 LLM_FALLBACK_MODELS="ollama:llama3.2:1b", LLM_DAILY_TOKEN_BUDGET="openrouter:5000",
                 LLM_MAX_CONCURRENCY="7", API_CACHE_ENABLED="true", API_CACHE_TTL="42", API_RETRY_ATTEMPTS="4",
                 LLM_FIRST_TOKEN_TIMEOUT="9")
    router = build_router(s, session, health=SqliteHealthStore(db), usage=SqliteUsageStore(db))
    assert router.describe_chain() == ["openrouter:meta-llama/llama-3.3-70b-instruct:free", "ollama:llama3.2:1b"]
    assert isinstance(router.providers["openrouter"], OpenAICompatProvider)
    assert isinstance(router.providers["ollama"], OllamaProvider)
    assert router.config.disabled == {"openai": "not used: name it in LLM_PROVIDER or LLM_FALLBACK_MODELS"}
    assert router.config.budgets == {"openrouter": 5000}
    assert (router.config.concurrency("ollama"), router.config.cache_ttl, router.config.retry.attempts) == (7, 42, 4)
    assert router.gates["openrouter"].limit == 7
    assert router.config.timeouts.first_token == 9


async def test_per_provider_concurrency_and_paid_budgets_by_default(session, db):
    s = settings(LLM_PROVIDER="openai", OPENAI_BASE_URL="https://api.openai.com/v1", OPENAI_API_KEY="sk-abc",
                 LLM_FALLBACK_ENABLED="true", LLM_FALLBACK_MODELS="ollama:llama3.2", LLM_MAX_CONCURRENCY="ollama:2")
    router = build_router(s, session, health=SqliteHealthStore(db), usage=SqliteUsageStore(db))
    assert (router.gates["ollama"].limit, router.gates["openai"].limit) == (2, 16)
    assert router.config.budgets == {"openai": 500_000, "openrouter": 500_000}  # a hosted, paid API: a budget
    local = settings(LLM_PROVIDER="openai", OPENAI_BASE_URL="http://127.0.0.1:8080/v1")
    assert build_router(local, session, health=SqliteHealthStore(db), usage=SqliteUsageStore(db)).config.budgets == {
        "openrouter": 500_000}  # a llama.cpp server on this machine costs nothing: no budget
    unlimited = settings(LLM_PROVIDER="openrouter", OPENROUTER_API_KEY="sk-or-v1-abc", LLM_DAILY_TOKEN_BUDGET="0")
    assert build_router(unlimited, session, health=SqliteHealthStore(db), usage=SqliteUsageStore(db)).config.budgets == {}


async def test_openrouter_gets_its_attribution_headers(session, db):
    async with FakeLLMServer(openrouter=True, api_key="sk-or-v1-abcdefabcdef") as server:
        s = settings(LLM_PROVIDER="openrouter", OPENROUTER_API_KEY="sk-or-v1-abcdefabcdef",
                     OPENROUTER_BASE_URL=server.openai_url, OPENROUTER_MODEL="gpt-4o-mini",
                     OPENROUTER_SITE_URL="https://bot.example", OPENROUTER_APP_NAME="My Bot")
        router = build_router(s, session, health=SqliteHealthStore(db), usage=SqliteUsageStore(db))
        assert (await router.chat([Message("user", "hi")])).provider == "openrouter"
        headers = server.chat_requests[0].headers
        assert (headers["HTTP-Referer"], headers["X-Title"]) == ("https://bot.example", "My Bot")
        await router.probe()
        assert [r.path for r in server.requests[1:]] == ["/v1/key", "/v1/models"]


async def test_services_container_exposes_the_router(session, db, tmp_path):
    from services.container import Services

    s = settings(DATABASE_PATH=str(tmp_path / "bot.db"))
    services = Services(s, session, SqliteBackend(db))
    assert isinstance(services.llm, LLMRouter) and services.llm.describe_chain() == ["ollama:llama3.2"]
    await services.llm.start()
