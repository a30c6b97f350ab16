"""Fixtures of the hardening tests: fake LLM and search servers, and the bot with every text cog on them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.fakes.llm_server import FakeLLMServer
from tests.fakes.search_servers import FakeSearchServers

TEXT_COGS = ["cogs.admin", "cogs.chat", "cogs.search", "cogs.reminders"]


@pytest.fixture
async def llm() -> AsyncIterator[FakeLLMServer]:
    async with FakeLLMServer() as server:
        yield server


@pytest.fixture
async def search() -> AsyncIterator[FakeSearchServers]:
    async with FakeSearchServers() as servers:
        yield servers


def service_env(llm: FakeLLMServer, search: FakeSearchServers, **overrides: Any) -> dict[str, Any]:
    """Ollama first, the same fake's OpenAI dialect as the fallback; SearXNG and Wikipedia on the fakes."""
    return {"ollama_host": llm.url, "openai_base_url": llm.openai_url, "llm_fallback_enabled": True,
            "llm_fallback_models": "openai:gpt-4o-mini", "web_search_enabled": True,
            "web_search_engine": "searxng", "web_search_rate_limit_delay": 0, "chat_stream_edit_interval": 0.2,
            "log_level": "INFO", **search.settings_env(), **overrides}
