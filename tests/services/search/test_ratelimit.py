"""The web-search gate: spaced and one at a time for ddgs, a line instead of a refusal, fair across members."""

import asyncio
import itertools
import time

import pytest

from services.limits import Requester
from services.search import SearchBusy
from services.search.ratelimit import SearchGate


def gate(*, limit: int = 1, spacing: float = 0.0, max_wait: float = 5.0) -> SearchGate:
    return SearchGate("search:web", limit=limit, spacing=spacing, max_wait=max_wait, search_timeout=1.0)


async def test_callers_are_spaced_and_queue_instead_of_being_refused() -> None:
    limiter = gate(spacing=0.2, max_wait=5)
    starts: list[tuple[str, float]] = []

    async def call(name: str) -> None:
        async with limiter.slot():
            starts.append((name, time.monotonic()))

    await asyncio.gather(*(call(n) for n in "abcde"))  # 0.8 s of spacing: all wait, none refused

    assert [n for n, _ in starts] == list("abcde")
    times = [t for _, t in starts]
    assert all(b - a >= 0.19 for a, b in itertools.pairwise(times))


async def test_one_call_at_a_time_and_spacing_counts_from_the_end() -> None:
    limiter = gate(spacing=0.1)
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
    await asyncio.sleep(0.2)
    assert [n for n, _ in events] == ["long start"]
    release.set()
    await asyncio.gather(first, second)
    assert [n for n, _ in events] == ["long start", "long end", "next start"]
    assert events[2][1] - events[1][1] >= 0.09


async def test_searxng_is_not_spaced_but_bounded() -> None:
    limiter = gate(limit=3, spacing=0)
    running, most = 0, 0

    async def call() -> None:
        nonlocal running, most
        async with limiter.slot():
            running += 1
            most = max(most, running)
            await asyncio.sleep(0.05)
            running -= 1

    started = time.monotonic()
    await asyncio.gather(*(call() for _ in range(9)))
    assert most == 3
    assert time.monotonic() - started < 0.5  # three rounds of 50 ms, no spacing


async def test_the_line_is_fair_across_members_and_reports_places() -> None:
    limiter = gate(spacing=0.05)
    served: list[str] = []
    places: dict[str, list[int]] = {}

    async def call(member: int, name: str) -> None:
        asker = Requester(member, on_queued=lambda what, n: places.setdefault(name, []).append(n))
        async with limiter.slot(asker):
            served.append(name)

    hold = asyncio.create_task(call(9, "first"))
    await asyncio.sleep(0)
    flood = [asyncio.create_task(call(1, f"flood{i}")) for i in range(4)]
    await asyncio.sleep(0)
    other = asyncio.create_task(call(2, "other"))
    await asyncio.gather(hold, *flood, other)
    assert served.index("other") <= 2  # not behind the whole flood
    assert places["other"][0] == 2 and places["other"][-1] == 1
    assert places["flood3"][0] == 4


async def test_refused_at_once_when_the_known_wait_is_longer_than_allowed() -> None:
    limiter = gate(max_wait=2)
    limiter.penalize(30)
    started = time.monotonic()
    with pytest.raises(SearchBusy, match="try again in 30 s") as info:
        async with limiter.slot():
            pass
    assert time.monotonic() - started < 0.5
    assert info.value.retry_after == 30 and info.value.transient


async def test_the_wait_is_capped_by_max_wait_and_by_the_askers_deadline() -> None:
    limiter = gate(max_wait=0.3)
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

    # An asker whose deadline is 1.2 s away keeps 1 s for the search itself: 0.2 s in line at most.
    patient = gate(max_wait=60)
    async with patient.slot():
        started = time.monotonic()
        deadline = asyncio.get_running_loop().time() + 1.2
        with pytest.raises(SearchBusy):
            async with patient.slot(Requester(1, deadline=deadline)):
                pass
        assert time.monotonic() - started < 0.6
    release.set()
    await holder
    async with limiter.slot():  # the gate works again once the stuck call is over
        pass
