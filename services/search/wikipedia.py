"""Wikipedia: a page summary by title (REST API), falling back to search (action API).

A disambiguation page answers with its options (its article links) so the user can pick one.
Titles go into a REST path segment, so they are percent-encoded the way MediaWiki does it,
with "/" encoded too (AC/DC is one title, not two path segments).
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any
from urllib.parse import quote

import aiohttp
import yarl

from services.errors import PermanentError, ServiceError, TransientError
from services.search.base import WikiSummary
from services.search.fetch import get_json
from services.search.lookup import SourceLookup
from services.search.query import clean_query, normalize_title
from services.storage import HealthStore, ServiceHealth

log = logging.getLogger(__name__)

SERVICE = "search:wikipedia"
CACHE_NAMESPACE = "search:wikipedia"
_KEY_VERSION = "v1"
# Characters MediaWiki leaves readable in page URLs (wfUrlencode), minus "/".
_TITLE_SAFE = ";@$!*(),~:"
_PROBE_TITLE = "Wikipedia"  # an article in nearly every language edition


def encode_title(title: str) -> str:
    """One REST path segment: spaces as underscores, UTF-8 percent-encoding, "/" as %2F."""
    return quote(title.strip().replace(" ", "_"), safe=_TITLE_SAFE)


class WikipediaClient:
    def __init__(self, session: aiohttp.ClientSession, *, base_url: str, lang: str, user_agent: str,
                 timeout: float, lookup: SourceLookup, health: HealthStore, max_query_chars: int,
                 max_options: int = 25) -> None:
        self._session = session
        self._base = base_url.rstrip("/")
        self.lang = lang
        self._user_agent = user_agent
        self._timeout = timeout
        self._lookup = lookup
        self._health = health
        self._max_query_chars = max_query_chars
        self._max_options = max_options

    async def summary(self, query: str) -> WikiSummary | None:
        """The page titled query, else the best search hit; None when nothing matches."""
        title = clean_query(query, self._max_query_chars)
        key = f"{_KEY_VERSION}:{self.lang}:{normalize_title(title)}"
        return await self._lookup.get_or_fetch(key, lambda: self._find(title), _encode, _decode)

    async def probe(self) -> ServiceHealth:
        """The REST API answers (a 404 still proves that); recorded like real traffic."""
        try:
            await self._lookup.track(lambda: self._page(_PROBE_TITLE))
        except ServiceError:
            pass  # recorded by track()
        return await self._health.get(SERVICE) or ServiceHealth(SERVICE)

    async def _find(self, title: str) -> WikiSummary | None:
        page, from_search = await self._page(title), False
        if page is None:
            hits = await self._search_titles(title, limit=1)
            if not hits:
                return None
            page, from_search = await self._page(hits[0]), True
            if page is None:
                return None
        summary = _to_summary(page, self.lang, from_search)
        if summary.is_disambiguation:
            summary = dataclasses.replace(summary, options=tuple(await self._links(summary.title)))
        return summary

    async def _page(self, title: str) -> dict[str, Any] | None:
        """REST summary JSON (redirects followed), or None when there is no such page."""
        url = yarl.URL(f"{self._base}/api/rest_v1/page/summary/{encode_title(title)}", encoded=True)
        try:
            data = await self._get(url, None)
        except PermanentError as exc:
            if exc.status in (400, 404):  # 400: not a valid title (e.g. contains "#" or "[")
                return None
            raise
        if not isinstance(data, dict) or not data.get("title"):
            raise TransientError(SERVICE, "summary answer has no title")
        return data

    async def _search_titles(self, query: str, limit: int) -> list[str]:
        data = await self._action({"list": "search", "srsearch": query, "srlimit": str(limit),
                                   "srprop": "", "srnamespace": "0"})
        hits = (data.get("query") or {}).get("search") or []
        return [h["title"] for h in hits if isinstance(h, dict) and h.get("title")]

    async def _links(self, title: str) -> list[str]:
        """A disambiguation page's article links, i.e. the pages it disambiguates between."""
        data = await self._action({"prop": "links", "titles": title, "plnamespace": "0",
                                   "pllimit": str(self._max_options), "redirects": "1"})
        pages = (data.get("query") or {}).get("pages") or []
        links = [link["title"] for page in pages if isinstance(page, dict)
                 for link in page.get("links") or [] if isinstance(link, dict) and link.get("title")]
        return [t for t in links if t != title][: self._max_options]

    async def _action(self, params: dict[str, str]) -> dict[str, Any]:
        data = await self._get(f"{self._base}/w/api.php",
                               {"action": "query", "format": "json", "formatversion": "2", **params})
        if not isinstance(data, dict):
            raise TransientError(SERVICE, "action API answer is not an object")
        if isinstance(data.get("error"), dict):  # reported with HTTP 200
            error = data["error"]
            raise PermanentError(SERVICE, f"{error.get('code', 'error')}: {error.get('info', '')}")
        return data

    async def _get(self, url: str | yarl.URL, params: dict[str, str] | None) -> Any:
        return await get_json(self._session, url, service=SERVICE, timeout=self._timeout,
                              user_agent=self._user_agent, params=params)


def _to_summary(page: dict[str, Any], lang: str, from_search: bool) -> WikiSummary:
    urls = page.get("content_urls") or {}
    thumbnail = (page.get("thumbnail") or {}).get("source")
    return WikiSummary(
        title=str(page["title"]),
        extract=str(page.get("extract") or ""),
        url=str((urls.get("desktop") or {}).get("page") or ""),
        description=str(page.get("description") or ""),
        thumbnail=str(thumbnail) if thumbnail else None,
        kind=str(page.get("type") or "standard"),
        lang=str(page.get("lang") or lang),
        from_search=from_search,
    )


def _encode(summary: WikiSummary | None) -> dict[str, Any]:
    # Cache.set refuses None, and "no such page" is worth caching too.
    return {"found": False} if summary is None else {"found": True, "page": summary.to_json()}


def _decode(data: dict[str, Any]) -> WikiSummary | None:
    return WikiSummary.from_json(data["page"]) if data.get("found") else None
