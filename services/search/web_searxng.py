"""Web search through a self-hosted SearXNG instance's JSON API (GET /search?format=json)."""

from __future__ import annotations

from typing import Any

import aiohttp

from services.errors import PermanentError, TransientError
from services.search.base import WebResult, WebSearchBackend
from services.search.errors import SearchRateLimited
from services.search.fetch import get_json
from services.search.urls import link_url

SERVICE = "search:web"
_SAFESEARCH = {"off": "0", "moderate": "1", "on": "2"}
# Reasons SearXNG gives when an upstream engine blocked it (SearxEngineAccessDenied, Captcha, TooManyRequests).
_BLOCKED = ("too many requests", "captcha", "access denied")


def searxng_language(region: str) -> str:
    """ddgs-style region ("us-en", "wt-wt") to a SearXNG language ("en-US", "all")."""
    country, _, lang = region.lower().partition("-")
    if not lang or country in ("wt", "xa", "xl"):
        return "all"
    return f"{lang}-{country.upper()}"


class SearxngBackend(WebSearchBackend):
    engine = "searxng"

    def __init__(self, session: aiohttp.ClientSession, *, base_url: str, region: str, safesearch: str,
                 timeout: float, user_agent: str) -> None:
        self._session = session
        self._base = base_url.rstrip("/")
        self._language = searxng_language(region)
        self._safesearch = _SAFESEARCH.get(safesearch, "1")
        self._timeout = timeout
        self._user_agent = user_agent

    async def fetch(self, query: str, max_results: int) -> list[WebResult]:
        params = {"q": query, "format": "json", "safesearch": self._safesearch, "language": self._language}
        data = await self._get(f"{self._base}/search", params)
        results = _parse(data, max_results)
        if not results:
            _raise_if_engines_failed(data)
        return results

    async def probe(self) -> None:
        # /config is answered by SearXNG itself, without querying any upstream engine.
        await self._get(f"{self._base}/config", None)

    async def _get(self, url: str, params: dict[str, str] | None) -> Any:
        try:
            return await get_json(self._session, url, service=SERVICE, timeout=self._timeout,
                                  user_agent=self._user_agent, params=params)
        except PermanentError as exc:
            if exc.status == 403:
                raise PermanentError(SERVICE, "SearXNG refused the JSON format: add json to search.formats "
                                     "in its settings.yml", status=403) from exc
            raise


def _parse(data: Any, max_results: int) -> list[WebResult]:
    if not isinstance(data, dict) or not isinstance(data.get("results", []), list):
        raise TransientError(SERVICE, "SearXNG answer has no results list")
    results = []
    for item in data.get("results", []):
        url = link_url(str(item.get("url") or "")) if isinstance(item, dict) else None
        if url is None:
            continue
        # One line: a newline in a title would break the link the cog puts it in.
        results.append(WebResult(title=" ".join(str(item.get("title") or url).split()), url=url,
                                 snippet=str(item.get("content") or "").strip()))
    return results[:max_results]


def _raise_if_engines_failed(data: dict[str, Any]) -> None:
    """No results because every engine failed is not "nothing found": say which and why."""
    failures = [f"{e[0]} ({e[1]})" for e in data.get("unresponsive_engines") or []
                if isinstance(e, list | tuple) and len(e) >= 2]
    if not failures:
        return
    message = "no engine answered: " + ", ".join(failures)
    if any(word in f.lower() for f in failures for word in _BLOCKED):
        raise SearchRateLimited(SERVICE, message)
    raise TransientError(SERVICE, message)
