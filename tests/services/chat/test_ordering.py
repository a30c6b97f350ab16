"""Per-channel queue: arrival order, parallel channels, no leftovers, cancellation; and the cooldown."""

from __future__ import annotations

import asyncio

from services.chat.cooldown import Cooldown
from services.chat.ordering import KeyedQueue


async def test_one_key_in_order_other_keys_in_parallel():
    queue = KeyedQueue()
    log: list[str] = []
    release_first = asyncio.Event()
    other_done = asyncio.Event()

    async def work(key: str, name: str, gate: asyncio.Event | None = None) -> None:
        turn = queue.take_turn(key)  # taken synchronously, like the cog does
        async with turn:
            log.append(f"start {name}")
            if gate is not None:
                await gate.wait()
            await asyncio.sleep(0)
            log.append(f"end {name}")
        if key == "b":
            other_done.set()

    tasks = [asyncio.create_task(work("a", "a1", release_first)), asyncio.create_task(work("a", "a2")),
             asyncio.create_task(work("a", "a3")), asyncio.create_task(work("b", "b1"))]
    async with asyncio.timeout(2):
        await other_done.wait()  # b ran while a1 still held channel a
    assert "end b1" in log and "end a1" not in log and "start a2" not in log
    release_first.set()
    async with asyncio.timeout(2):
        await asyncio.gather(*tasks)
    a_events = [e for e in log if " a" in e]
    assert a_events == ["start a1", "end a1", "start a2", "end a2", "start a3", "end a3"]
    assert len(queue) == 0  # quiet channels leave nothing behind


async def test_cancelled_waiter_gives_its_place_up():
    queue = KeyedQueue()
    first = queue.take_turn("a")
    second = queue.take_turn("a")
    third = queue.take_turn("a")
    async with first:
        waiting = asyncio.create_task(second.__aenter__())
        await asyncio.sleep(0)
        waiting.cancel()
        await asyncio.gather(waiting, return_exceptions=True)
        assert queue.waiting("a") == 2
    async with asyncio.timeout(1):
        async with third:
            assert queue.waiting("a") == 1
    assert len(queue) == 0


async def test_unused_turn_can_be_left():
    queue = KeyedQueue()
    turn = queue.take_turn("a")
    later = queue.take_turn("a")
    turn.leave()
    turn.leave()  # idempotent
    async with asyncio.timeout(1):
        async with later:
            pass
    assert len(queue) == 0


def test_cooldown_answers_seconds_left_and_forgets_old_users():
    now = [100.0]
    cooldown = Cooldown(10, clock=lambda: now[0])
    assert cooldown.try_acquire(1) == 0
    now[0] += 3
    assert cooldown.try_acquire(1) == 7
    assert cooldown.try_acquire(2) == 0
    now[0] += 8
    assert cooldown.try_acquire(1) == 0
    for uid in range(1000, 1300):
        cooldown.try_acquire(uid)
    now[0] += 11
    cooldown.try_acquire(5)
    assert len(cooldown) == 1
    assert Cooldown(0).try_acquire(1) == 0
