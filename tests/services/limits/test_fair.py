"""The fair gate: bounded, served across members rather than first come, places reported, nothing leaks."""

from __future__ import annotations

import asyncio
import itertools

import pytest

from services.limits import FairGate, GateTimeout


async def hold(gate: FairGate, key: object, log: list[str], name: str, release: asyncio.Event) -> None:
    async with gate.slot(key):
        log.append(name)
        await release.wait()


async def test_a_flooding_member_takes_turns_with_everyone_else() -> None:
    gate, log = FairGate("llm:test", 2), []
    release = asyncio.Event()
    busy = [asyncio.create_task(hold(gate, "x", log, f"x{i}", release)) for i in range(2)]
    await asyncio.sleep(0)
    flood = [asyncio.create_task(hold(gate, "flooder", log, f"f{i}", release)) for i in range(10)]
    await asyncio.sleep(0)
    others = [asyncio.create_task(hold(gate, m, log, m, release)) for m in ("alice", "bob", "carol")]
    await asyncio.sleep(0)
    assert gate.waiting == 13 and gate.holders == 2
    release.set()
    await asyncio.wait_for(asyncio.gather(*busy, *flood, *others), 2)
    served = log[2:]
    # Each newcomer is served within one turn of the flooder, not after its ten requests.
    assert max(served.index(m) for m in ("alice", "bob", "carol")) <= 5, served
    assert [n for n in served if n.startswith("f")] == [f"f{i}" for i in range(10)]  # own order kept
    assert gate.holders == 0 and gate.waiting == 0 and not any(m.serving for m in gate._members.values())


async def test_fewest_in_service_goes_first() -> None:
    gate, log = FairGate("g", 2), []
    release_b, release = asyncio.Event(), asyncio.Event()
    a1 = asyncio.create_task(hold(gate, "a", log, "a1", release))
    b1 = asyncio.create_task(hold(gate, "b", log, "b1", release_b))
    await asyncio.sleep(0)
    a2 = asyncio.create_task(hold(gate, "a", log, "a2", release))  # a waits first...
    await asyncio.sleep(0)
    c1 = asyncio.create_task(hold(gate, "c", log, "c1", release))  # ...but has a1 running; c has nothing
    await asyncio.sleep(0)
    release_b.set()  # b1 ends: the free place goes to c, not to a second request of a
    await asyncio.sleep(0.01)
    assert log == ["a1", "b1", "c1"]
    release.set()
    await asyncio.wait_for(asyncio.gather(a1, b1, a2, c1), 1)
    assert log == ["a1", "b1", "c1", "a2"]


async def test_places_are_reported_as_they_change() -> None:
    gate = FairGate("g", 1)
    release = asyncio.Event()
    seen: dict[str, list[int]] = {}
    first = asyncio.create_task(hold(gate, "x", [], "x", release))
    await asyncio.sleep(0)

    async def wait(name: str) -> None:
        await gate.acquire(name, on_position=lambda n: seen.setdefault(name, []).append(n))
        gate.release(name)

    waiters = [asyncio.create_task(wait(n)) for n in ("a", "b", "c")]
    await asyncio.sleep(0)
    assert seen == {"a": [1], "b": [2], "c": [3]}
    release.set()
    await asyncio.wait_for(asyncio.gather(first, *waiters), 1)
    assert seen["c"] == [3, 2, 1]


async def test_timeout_says_where_it_stood_and_gives_the_place_up() -> None:
    gate = FairGate("g", 1)
    release = asyncio.Event()
    holder = asyncio.create_task(hold(gate, "x", [], "x", release))
    await asyncio.sleep(0)
    with pytest.raises(GateTimeout) as info:
        await gate.acquire("y", timeout=0.05)
    assert info.value.position == 1 and info.value.waited >= 0.04
    assert gate.waiting == 0
    release.set()
    await holder
    assert gate.holders == 0 and gate.waiting == 0


async def test_cancelled_waiter_leaves_and_a_grant_at_the_same_moment_is_handed_on() -> None:
    gate = FairGate("g", 1)
    release = asyncio.Event()
    holder = asyncio.create_task(hold(gate, "x", [], "x", release))
    await asyncio.sleep(0)
    waiter = asyncio.create_task(gate.acquire("y"))
    nxt = asyncio.create_task(gate.acquire("z"))
    await asyncio.sleep(0)
    release.set()
    await asyncio.sleep(0)  # the holder leaves; "y" is granted...
    waiter.cancel()  # ...and cancelled before it ran: its place goes to "z"
    with pytest.raises(asyncio.CancelledError):
        await waiter
    await asyncio.wait_for(nxt, 1)
    gate.release("z")
    await holder
    assert gate.holders == 0 and gate.waiting == 0


async def test_spacing_and_penalty() -> None:
    gate = FairGate("g", 1, spacing=0.1)
    loop = asyncio.get_running_loop()
    starts = []
    for _ in range(3):
        async with gate.slot():
            starts.append(loop.time())
    assert all(b - a >= 0.09 for a, b in itertools.pairwise(starts))
    gate.penalize(0.3)
    assert gate.estimated_wait() >= 0.25
    began = loop.time()
    async with gate.slot():
        assert loop.time() - began >= 0.25


async def test_among_equals_the_request_that_reached_the_bot_first_goes_first() -> None:
    gate, log = FairGate("g", 1), []
    release = asyncio.Event()
    holder = asyncio.create_task(hold(gate, "x", log, "x", release))
    await asyncio.sleep(0)
    now = asyncio.get_running_loop().time()

    async def wait(key: str, arrived: float) -> None:
        async with gate.slot(key, arrived=arrived):
            log.append(key)

    newer = asyncio.create_task(wait("newer", now))
    await asyncio.sleep(0)
    older = asyncio.create_task(wait("older", now - 5))  # e.g. it waited for its member's previous prompt
    await asyncio.sleep(0)
    release.set()
    await asyncio.wait_for(asyncio.gather(holder, newer, older), 1)
    assert log == ["x", "older", "newer"]


async def test_a_flood_is_spread_one_share_apart() -> None:
    gate = FairGate("g", 2)
    assert gate.share == 0.5  # one second per request (a first guess) over two slots
    release = asyncio.Event()
    log: list[str] = []
    busy = [asyncio.create_task(hold(gate, "x", log, f"x{i}", release)) for i in range(2)]
    await asyncio.sleep(0)
    flood = [asyncio.create_task(hold(gate, "f", log, f"f{i}", release)) for i in range(6)]
    await asyncio.sleep(0)
    stamps = [w.stamp for w in gate._members["f"].waiting]
    assert all(abs(b - a - 0.5) < 1e-6 for a, b in itertools.pairwise(stamps))
    release.set()
    await asyncio.wait_for(asyncio.gather(*busy, *flood), 2)
