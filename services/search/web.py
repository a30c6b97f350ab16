"""Web search as the bot uses it: query checks, the shared cache, the engine's gate (a line), health.

Identical queries waiting at the same time are sent once and share the answer (SourceLookup).
"""

from __future__ import annotations

import time

from services.errors import ServiceDisabled, ServiceError
from services.limits.requester import Requester
from services.search.base import WebResult, WebSearchBackend
from services.search.lookup import SourceLookup
from services.search.query import clean_query, normalize_query
from services.search.ratelimit import SearchGate
from services.storage import HealthStore, ServiceHealth

SERVICE = "search:web"
CACHE_NAMESPACE = "search:web"
_KEY_VERSION = "v1"
_UNPROBED = "not probed: checked by real searches only, so the public engine is not queried for nothing"


class WebSearch:
    """Front door for /search and web context; one instance shared by every user."""

    service = SERVICE

    def __init__(self, backend: WebSearchBackend, *, lookup: SourceLookup, limiter: SearchGate,
                 health: HealthStore, max_results: int, max_query_chars: int, variant: str = "",
                 enabled: bool = True) -> None:
        self.backend = backend
        self._lookup = lookup
        self._limiter = limiter
        self._health = health
        self._max_results = max_results
        self._max_query_chars = max_query_chars
        self._variant = variant  # region/safesearch: settings that change the answer, so part of the key
        self.enabled = enabled

    @property
    def engine(self) -> str:
        return self.backend.engine

    @property
    def limiter(self) -> SearchGate:
        return self._limiter

    async def search(self, query: str, *, requester: Requester | None = None) -> list[WebResult]:
        """Results for query (possibly empty); raises InvalidQuery, ServiceDisabled or a ServiceError.

        `requester` is who waits (their place in line is reported to them) and by when.
        """
        if not self.enabled:
            raise ServiceDisabled(SERVICE, "web search is turned off (WEB_SEARCH_ENABLED=false)")
        text = clean_query(query, self._max_query_chars)
        key = f"{_KEY_VERSION}:{self.engine}:{self._variant}:{self._max_results}:{normalize_query(text)}"
        return await self._lookup.get_or_fetch(
            key, lambda: self._fetch_limited(text, requester),
            encode=lambda results: [r.to_json() for r in results],
            decode=lambda data: [WebResult.from_json(r) for r in data],
        )

    async def _fetch_limited(self, text: str, requester: Requester | None) -> list[WebResult]:
        async with self._limiter.slot(requester):
            return await self.backend.fetch(text, self._max_results)

    async def probe(self) -> ServiceHealth:
        """For the health monitor; ddgs is never probed (see WebSearchBackend.can_probe)."""
        if not self.enabled:
            return await self._health.record_disabled(SERVICE, "WEB_SEARCH_ENABLED=false")
        if not self.backend.can_probe:
            current = await self._health.get(SERVICE)
            if current is not None and current.status != "disabled":
                return current
            return await self._health.put(ServiceHealth(SERVICE, "unknown", checked_at=time.time(),
                                                        detail=_UNPROBED))
        try:
            await self._lookup.track(self.backend.probe)
        except ServiceError:
            pass  # recorded by track(); the state below says what went wrong
        return await self._health.get(SERVICE) or ServiceHealth(SERVICE)

    async def close(self) -> None:
        await self.backend.close()
