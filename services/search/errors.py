"""Search-specific errors, so the cog can say "rate limited" or "busy" instead of "no results"."""

from __future__ import annotations

import math

from services.errors import ServiceBusy, ServiceRateLimited, ServiceTimedOut


class InvalidQuery(ValueError):
    """The user's query cannot be searched as typed; the message is safe to show as is."""


class SearchBusy(ServiceBusy):
    """Our own shared web-search gate is full; nothing was sent upstream."""

    def __init__(self, service: str, retry_after: float) -> None:
        seconds = max(1, math.ceil(retry_after))
        super().__init__(service, f"busy, try again in {seconds} s", retry_after=float(seconds))


class SearchRateLimited(ServiceRateLimited):
    """The upstream engine refused us for asking too often (HTTP 429, ddgs RatelimitException)."""


class SearchTimeout(ServiceTimedOut):
    """The upstream engine did not answer in time; unknown whether it has results."""
