"""Web search through the ddgs library (DuckDuckGo, Brave, Mojeek, ... by backend name).

ddgs is synchronous, so each search runs on a small thread pool of our own. On a timeout the
caller gets SearchTimeout at once, but the worker thread cannot be killed: it lingers until ddgs's
own HTTP timeout (the same WEB_SEARCH_TIMEOUT, passed to DDGS) ends it. The pool is bounded, so
a hung engine costs at most `workers` threads.

Limitation of ddgs 9.x: an engine that answers with a non-200 page (how DuckDuckGo signals a
block) is dropped silently and ends as "No results found.", so such a block reads as an empty
list; only RatelimitException/TimeoutException (and timeouts of our own) are reported as such.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any, Protocol

from ddgs import DDGS
from ddgs.exceptions import DDGSException, RatelimitException, TimeoutException

from services.errors import TransientError
from services.search.base import WebResult, WebSearchBackend
from services.search.errors import SearchRateLimited, SearchTimeout
from services.search.ratelimit import SearchGate
from services.search.urls import link_url

log = logging.getLogger(__name__)

SERVICE = "search:web"
# ddgs raises DDGSException with exactly this text when every engine answered with nothing.
NO_RESULTS = "No results found."
RATE_LIMIT_COOLDOWN = 60.0


class TextSearcher(Protocol):
    def text(self, query: str, **kwargs: Any) -> list[dict[str, Any]]: ...


class DdgsBackend(WebSearchBackend):
    """One named ddgs backend ("auto" mixes engines and makes results unpredictable)."""

    can_probe = False  # probing would be a real DuckDuckGo search every minute

    def __init__(self, *, backend: str, region: str, safesearch: str, timeout: float,
                 limiter: SearchGate | None = None,
                 ddgs_factory: Callable[[], TextSearcher] | None = None, workers: int = 2,
                 rate_limit_cooldown: float = RATE_LIMIT_COOLDOWN) -> None:
        self.engine = backend
        self._region = region
        self._safesearch = safesearch
        self._timeout = timeout
        self._limiter = limiter
        self._factory = ddgs_factory or partial(DDGS, timeout=max(1, math.ceil(timeout)))
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="ddgs")
        self._cooldown = rate_limit_cooldown

    def _text(self, query: str, max_results: int) -> list[dict[str, Any]]:
        # A fresh DDGS per search: its HTTP client is not shared between threads.
        return self._factory().text(query, region=self._region, safesearch=self._safesearch,
                                    max_results=max_results, backend=self.engine)

    async def fetch(self, query: str, max_results: int) -> list[WebResult]:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self._timeout):
                raw = await loop.run_in_executor(self._executor, self._text, query, max_results)
        except TimeoutError:
            raise SearchTimeout(SERVICE, f"{self.engine} gave no answer within {self._timeout:g} s") from None
        except RatelimitException as exc:
            if self._limiter is not None:
                self._limiter.penalize(self._cooldown)
            raise SearchRateLimited(SERVICE, f"{self.engine} is rate limiting searches ({exc})",
                                    retry_after=self._cooldown) from exc
        except TimeoutException as exc:
            raise SearchTimeout(SERVICE, f"{self.engine} timed out ({exc})") from exc
        except DDGSException as exc:
            if str(exc) == NO_RESULTS:
                return []
            raise TransientError(SERVICE, f"{self.engine}: {exc}") from exc
        return _parse(raw, max_results)

    async def close(self) -> None:
        # Never wait for a hung search; queued ones are dropped.
        self._executor.shutdown(wait=False, cancel_futures=True)


def _parse(raw: list[dict[str, Any]], max_results: int) -> list[WebResult]:
    results = []
    for item in raw:
        url = link_url(str(item.get("href") or ""))
        if url is None:
            continue
        # One line: a newline in a title would break the link the cog puts it in.
        results.append(WebResult(title=" ".join(str(item.get("title") or url).split()), url=url,
                                 snippet=str(item.get("body") or "").strip()))
    return results[:max_results]
