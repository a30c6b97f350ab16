"""Urban Dictionary: the top definitions of a term (GET /v0/define?term=...)."""

from __future__ import annotations

from typing import Any

import aiohttp

from services.errors import ServiceError, TransientError
from services.search.base import UrbanDefinition
from services.search.fetch import get_json
from services.search.lookup import SourceLookup
from services.search.query import clean_query, normalize_query
from services.storage import HealthStore, ServiceHealth

SERVICE = "search:urban"
CACHE_NAMESPACE = "search:urban"
_KEY_VERSION = "v1"


class UrbanDictionaryClient:
    def __init__(self, session: aiohttp.ClientSession, *, api_url: str, user_agent: str, timeout: float,
                 lookup: SourceLookup, health: HealthStore, max_query_chars: int) -> None:
        self._session = session
        self._api = api_url.rstrip("/")
        self._user_agent = user_agent
        self._timeout = timeout
        self._lookup = lookup
        self._health = health
        self._max_query_chars = max_query_chars

    async def define(self, term: str) -> list[UrbanDefinition]:
        """Definitions, best voted first; an empty list when the term has no entry."""
        text = clean_query(term, self._max_query_chars)
        return await self._lookup.get_or_fetch(
            f"{_KEY_VERSION}:{normalize_query(text)}", lambda: self._fetch(text),
            encode=lambda defs: [d.to_json() for d in defs],
            decode=lambda data: [UrbanDefinition.from_json(d) for d in data],
        )

    async def probe(self) -> ServiceHealth:
        try:
            await self._lookup.track(lambda: self._fetch("test"))
        except ServiceError:
            pass  # recorded by track()
        return await self._health.get(SERVICE) or ServiceHealth(SERVICE)

    async def _fetch(self, term: str) -> list[UrbanDefinition]:
        data = await get_json(self._session, f"{self._api}/define", service=SERVICE, timeout=self._timeout,
                              user_agent=self._user_agent, params={"term": term})
        if not isinstance(data, dict) or not isinstance(data.get("list"), list):
            raise TransientError(SERVICE, "answer has no definition list")
        definitions = [_parse(item) for item in data["list"] if isinstance(item, dict) and item.get("definition")]
        # Stable sort: Urban Dictionary's own order breaks ties.
        return sorted(definitions, key=lambda d: d.score, reverse=True)


def _parse(item: dict[str, Any]) -> UrbanDefinition:
    return UrbanDefinition(
        word=str(item.get("word") or ""),
        definition=_text(item.get("definition")),
        example=_text(item.get("example")),
        author=str(item.get("author") or ""),
        permalink=str(item.get("permalink") or ""),
        thumbs_up=_count(item.get("thumbs_up")),
        thumbs_down=_count(item.get("thumbs_down")),
        written_on=str(item.get("written_on") or ""),
    )


def _text(value: Any) -> str:
    return str(value or "").replace("\r\n", "\n").replace("\r", "\n").strip()


def _count(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0
