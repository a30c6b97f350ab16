"""Builds the search services from settings; the only place that knows which class serves what."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import aiohttp

from config.settings import Settings
from services.search import urban, web, wikipedia
from services.search.base import WebSearchBackend
from services.search.lookup import SourceLookup
from services.search.ratelimit import SearchGate
from services.search.urban import UrbanDictionaryClient
from services.search.web import WebSearch
from services.search.web_ddgs import DdgsBackend, TextSearcher
from services.search.web_searxng import SearxngBackend
from services.search.wikipedia import WikipediaClient
from services.storage import Cache, HealthStore


@dataclass
class SearchServices:
    web: WebSearch
    wikipedia: WikipediaClient
    urban: UrbanDictionaryClient

    async def close(self) -> None:
        await self.web.close()


def build_search(settings: Settings, session: aiohttp.ClientSession, cache: Cache, health: HealthStore, *,
                 ddgs_factory: Callable[[], TextSearcher] | None = None) -> SearchServices:
    """No I/O here; ddgs_factory replaces ddgs.DDGS (tests, or a proxied DDGS)."""
    shared_cache = cache if settings.api_cache_enabled else None

    def lookup(service: str, namespace: str, ttl: float) -> SourceLookup:
        # A source TTL of 0 means "use API_CACHE_TTL".
        return SourceLookup(service, namespace, health=health, cache=shared_cache,
                            ttl=ttl or settings.api_cache_ttl)

    # The engine's policy: ddgs one at a time and spaced, SearXNG a few at once; beyond that, a line.
    limiter = SearchGate(web.SERVICE, limit=settings.web_search_concurrency(), spacing=settings.web_search_spacing(),
                         max_wait=settings.queue_max_wait, search_timeout=settings.web_search_timeout)
    backend: WebSearchBackend
    if settings.web_search_engine == "searxng":
        backend = SearxngBackend(session, base_url=settings.searxng_url, region=settings.web_search_region,
                                 safesearch=settings.web_search_safesearch, timeout=settings.web_search_timeout,
                                 user_agent=settings.search_user_agent)
    else:
        backend = DdgsBackend(backend=settings.web_search_engine, region=settings.web_search_region,
                              safesearch=settings.web_search_safesearch, timeout=settings.web_search_timeout,
                              limiter=limiter, ddgs_factory=ddgs_factory)
    return SearchServices(
        web=WebSearch(
            backend, lookup=lookup(web.SERVICE, web.CACHE_NAMESPACE, settings.web_search_cache_ttl),
            limiter=limiter, health=health, max_results=settings.web_search_max_results,
            max_query_chars=settings.search_max_query_chars, enabled=settings.web_search_enabled,
            variant=f"{settings.web_search_region}:{settings.web_search_safesearch}",
        ),
        wikipedia=WikipediaClient(
            session, base_url=settings.wikipedia_url, lang=settings.wikipedia_lang,
            user_agent=settings.search_user_agent, timeout=settings.api_request_timeout,
            lookup=lookup(wikipedia.SERVICE, wikipedia.CACHE_NAMESPACE, settings.wikipedia_cache_ttl),
            health=health, max_query_chars=settings.search_max_query_chars,
        ),
        urban=UrbanDictionaryClient(
            session, api_url=settings.urban_dictionary_api_url, user_agent=settings.search_user_agent,
            timeout=settings.api_request_timeout,
            lookup=lookup(urban.SERVICE, urban.CACHE_NAMESPACE, settings.urban_cache_ttl),
            health=health, max_query_chars=settings.search_max_query_chars,
        ),
    )
