"""GET-a-JSON-document for the search sources: a User-Agent, one deadline, search-specific errors."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import aiohttp
import yarl

from services.errors import TransientError
from services.http import request_json
from services.search.errors import SearchRateLimited, SearchTimeout


async def get_json(session: aiohttp.ClientSession, url: str | yarl.URL, *, service: str, timeout: float,
                   user_agent: str, params: Mapping[str, str] | None = None) -> Any:
    """The decoded JSON answer; 429 becomes SearchRateLimited and the deadline SearchTimeout.

    The deadline covers connecting, redirects and reading the body, so a server that trickles
    bytes cannot hold a command open.
    """
    headers = {"User-Agent": user_agent, "Accept": "application/json"}
    try:
        async with asyncio.timeout(timeout):
            # timeout=None: ours above is the only one, so a timeout is always SearchTimeout.
            return await request_json(session, "GET", url, service=service, timeout=None,
                                      headers=headers, params=params)
    except TimeoutError:
        raise SearchTimeout(service, f"no answer within {timeout:g} s") from None
    except TransientError as exc:
        if exc.status == 429:
            raise SearchRateLimited(service, f"rate limited: {exc.cause}", status=429,
                                    retry_after=exc.retry_after) from exc
        raise
