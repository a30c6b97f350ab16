"""This process's share of Discord's global REST rate limit, when several processes share one token.

Discord allows a bot token about 50 requests per second in total, whatever the number of processes
(DISCORD_GLOBAL_RATE_LIMIT, in case Discord raised it for the bot). discord.py honours a global 429
within its own process only, so processes that each believed they had the whole budget would
together exceed it. Each process instead takes the share of its shards (shards run / SHARD_COUNT of
the budget) and paces its requests with a token bucket, so the sum never exceeds the limit.
Interaction answers and their follow-ups are exempt, as on Discord: the 3-second window never waits
behind a burst of reminders.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import discord

from services.shards import Shards

log = logging.getLogger(__name__)

EXEMPT = ("/interactions/", "/webhooks/")  # not counted against the global limit by Discord


class TokenBucket:
    """`rate` tokens per second, at most `burst` saved up; `acquire()` waits for one."""

    def __init__(self, rate: float, burst: float, *, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self.rate = rate
        self.burst = burst
        self._tokens = burst
        self._clock = clock
        self._sleep = sleep
        self._last = clock()
        self._lock = asyncio.Lock()  # first come, first served

    async def acquire(self) -> None:
        async with self._lock:
            while True:
                now = self._clock()
                self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
                self._last = now
                if self._tokens >= 1 - 1e-9:  # float sums: 0.2 s at 5/s may come to 0.9999999999999998
                    self._tokens = max(0.0, self._tokens - 1)
                    return
                await self._sleep((1 - self._tokens) / self.rate)


def share_of(limit: float, home: Shards) -> float | None:
    """Requests per second this process may use; None when it runs every shard (discord.py alone
    keeps it within the limit)."""
    return None if home.is_all else limit * len(home.ids) / home.count


def pace_requests(client: discord.Client, rate: float) -> TokenBucket:
    """Make every REST request of the client (but interaction answers) wait for the bucket."""
    bucket = TokenBucket(rate, burst=1.0)  # evenly spaced: never more than rate + 1 in any second
    original = client.http.request

    async def request(route: discord.http.Route, **kwargs: Any) -> Any:
        if not route.path.startswith(EXEMPT):
            await bucket.acquire()
        return await original(route, **kwargs)

    client.http.request = request  # type: ignore[method-assign]
    log.info("REST requests paced at %.1f/s, this process's share of the bot's global rate limit", rate)
    return bucket
