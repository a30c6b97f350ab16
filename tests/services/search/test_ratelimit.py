import asyncio
import itertools
import time

import pytest

from services.search import SearchBusy
from services.search.ratelimit import SharedRateLimiter


async def test_callers_are_spaced_and_served_in_arrival_order() -> None:
    limiter = SharedRateLimiter("search:web", delay=0.2, max_wait=5)
    starts: list[tuple[str, float]] = []

    async def call(name: str) -> None:
        async with limiter.slot():
            starts.append((name, time.monotonic()))

    await asyncio.gather(*(call(n) for n in "abcd"))

    assert [n for n, _ in starts] == list("abcd")
    times = [t for _, t in starts]
    assert all(b - a >= 0.19 for a, b in itertools.pairwise(times))


async def test_one_call_at_a_time_and_delay_counts_from_the_end() -> None:
    limiter = SharedRateLimiter("search:web", delay=0.1, max_wait=5)
    release, started = asyncio.Event(), asyncio.Event()
    events: list[tuple[str, float]] = []

    async def long_call() -> None:
        async with limiter.slot():
            events.append(("long start", time.monotonic()))
            started.set()
            await release.wait()
            events.append(("long end", time.monotonic()))

    async def next_call() -> None:
        async with limiter.slot():
            events.append(("next start", time.monotonic()))

    first = asyncio.create_task(long_call())
    await asyncio.wait_for(started.wait(), 5)
    second = asyncio.create_task(next_call())
    await asyncio.sleep(0)
    assert limiter.estimated_wait() >= 0.2  # one in flight + one queued, 0.1 s each at least
    release.set()
    await asyncio.gather(first, second)
    names = [n for n, _ in events]
    assert names == ["long start", "long end", "next start"]
    assert events[2][1] - events[1][1] >= 0.09


async def test_refuses_at_once_when_the_estimate_is_too_long() -> None:
    limiter = SharedRateLimiter("search:web", delay=10, max_wait=2)
    async with limiter.slot():
        pass
    started = time.monotonic()
    with pytest.raises(SearchBusy, match="busy, try again in 10 s") as info:
        async with limiter.slot():
            pass
    assert time.monotonic() - started < 0.5
    assert info.value.retry_after == 10 and info.value.transient


async def test_actual_wait_is_capped_even_when_the_estimate_was_short() -> None:
    limiter = SharedRateLimiter("search:web", delay=0, max_wait=0.3)
    release = asyncio.Event()

    async def stuck() -> None:
        async with limiter.slot():
            await release.wait()

    holder = asyncio.create_task(stuck())
    await asyncio.sleep(0)
    started = time.monotonic()
    with pytest.raises(SearchBusy):
        async with limiter.slot():
            pass
    assert 0.25 <= time.monotonic() - started < 3
    release.set()
    await holder
    async with limiter.slot():  # the gate works again once the stuck call is over
        pass


async def test_penalize_holds_back_the_next_caller() -> None:
    limiter = SharedRateLimiter("search:web", delay=0, max_wait=1)
    limiter.penalize(30)
    with pytest.raises(SearchBusy, match="try again in 30 s"):
        async with limiter.slot():
            pass
