"""Everything a tool answer touches, for real: the model server (both dialects), the router, the search
fakes, the reminder service on the test database, and the page fetcher pointed at a local "public" site."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import pytest

from config.settings import load_settings
from devtools.fakes.llm_server import FakeLLMServer
from devtools.fakes.search_servers import FakeSearchServers, searxng_result
from services.llm.factory import build_router
from services.llm.router import LLMRouter
from services.reminders import ReminderService
from services.search import build_search
from services.storage.sqlite.cache import SqliteCache
from services.storage.sqlite.health import SqliteHealthStore
from services.storage.sqlite.reminders import SqliteReminderStore
from services.storage.sqlite.usage import SqliteUsageStore
from services.tools import ToolLoop, build_tools
from services.tools.base import ToolContext
from services.web import AddressPolicy, PageFetcher
from tests.services.web.conftest import LOCAL, MapResolver, Site, site  # noqa: F401  (the site fixture)

NOW = 1_774_430_100.0  # 2026-03-25 09:15 UTC


@dataclass
class ToolWorld:
    llm: FakeLLMServer
    search: FakeSearchServers
    site: Site
    reminders: ReminderService
    router: LLMRouter
    loop: ToolLoop
    page_url: str  # the local "public" site, e.g. f"{page_url}/article"

    def ctx(self, words: str, member_id: int = 42, name: str = "Ann", channel_id: int = 700) -> ToolContext:
        return ToolContext(member_id=member_id, member_name=name, guild_id=1, channel_id=channel_id,
                           member_words=words, clock=lambda: NOW)


@pytest.fixture(params=["ollama", "openai"])
async def world(request, session, db, llm, site) -> AsyncIterator[ToolWorld]:  # noqa: F811
    dialect = request.param
    async with FakeSearchServers() as search:
        search.add_wiki_page("Moon", "The Moon is Earth's only natural satellite.")
        search.searxng_answers["moon distance"] = {"results": [
            searxng_result("Moon facts", "https://example.org/moon", "The Moon is 384,400 km away."),
            searxng_result("Lunar distance", "https://example.net/lunar", "Average distance 384,400 km.")]}
        env = {"DISCORD_TOKEN": "t" * 24, "LLM_FIRST_TOKEN_TIMEOUT": "5", "LLM_TOTAL_TIMEOUT": "20",
               "API_RETRY_ATTEMPTS": "1", "API_CACHE_ENABLED": "false", "WEB_SEARCH_ENGINE": "searxng",
               "WEB_SEARCH_RATE_LIMIT_DELAY": "0", **search.settings_env()}
        env.update({"LLM_PROVIDER": "ollama", "OLLAMA_HOST": llm.url, "OLLAMA_MODEL": "llama3.2"} if dialect == "ollama"
                   else {"LLM_PROVIDER": "openai", "OPENAI_BASE_URL": llm.openai_url, "OPENAI_MODEL": "gpt-4o-mini"})
        settings = load_settings(env)
        health = SqliteHealthStore(db)
        router = build_router(settings, session, health=health, usage=SqliteUsageStore(db), cache=SqliteCache(db))
        searches = build_search(settings, session, SqliteCache(db), health)
        reminders = ReminderService(SqliteReminderStore(db, clock=lambda: NOW), clock=lambda: NOW)
        fetcher = PageFetcher(policy=AddressPolicy(LOCAL), resolver=MapResolver({"news.test": ["127.0.0.1"]}),
                              timeout=3)
        registry = build_tools(search=searches, reminders=reminders, fetcher=fetcher)
        try:
            yield ToolWorld(llm, search, site, reminders, router, ToolLoop(router, registry, max_rounds=3),
                            f"http://news.test:{site.port}")
        finally:
            await fetcher.close()
            await searches.close()


Collect = Callable[..., Any]
