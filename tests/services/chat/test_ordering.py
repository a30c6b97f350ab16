"""Which prompts of a channel may be answered now: concurrency, a member's own order, reply chains, /reset."""

from __future__ import annotations

import asyncio

import pytest

from services.chat.ordering import ConversationOrder


class Log:
    def __init__(self) -> None:
        self.events: list[str] = []
        self.running: set[str] = set()
        self.most = 0

    async def work(self, order: ConversationOrder, scope: str, member: int, name: str,
                   gate: asyncio.Event | None = None, **where: object) -> None:
        ticket = order.arrive(scope, member, **where)  # taken synchronously, like the cog does
        async with ticket:
            self.events.append(f"start {name}")
            self.running.add(name)
            self.most = max(self.most, len(self.running))
            await (gate.wait() if gate is not None else asyncio.sleep(0.01))
            self.running.discard(name)
            self.events.append(f"end {name}")


async def test_members_run_in_parallel_up_to_the_limit_and_each_member_in_order() -> None:
    order, log = ConversationOrder(limit=3), Log()
    release = asyncio.Event()
    tasks = [asyncio.create_task(log.work(order, "general", m, f"{m}-{i}", release)) for i in range(2) for m in (1, 2, 3, 4)]
    await asyncio.sleep(0.05)
    # Three at once, the first prompt of three different members; nobody's second prompt started.
    assert sorted(log.running) == ["1-0", "2-0", "3-0"]
    release.set()
    async with asyncio.timeout(2):
        await asyncio.gather(*tasks)
    assert log.most == 3
    for member in (1, 2, 3, 4):
        mine = [e for e in log.events if e.split()[1].startswith(f"{member}-")]
        assert mine == [f"start {member}-0", f"end {member}-0", f"start {member}-1", f"end {member}-1"]
    assert len(order) == 0  # quiet channels leave nothing behind


async def test_other_scopes_do_not_wait() -> None:
    order, log = ConversationOrder(limit=1), Log()
    hold = asyncio.Event()
    busy = asyncio.create_task(log.work(order, "a", 1, "a1", hold))
    await asyncio.sleep(0.01)
    async with asyncio.timeout(1):
        await log.work(order, "b", 1, "b1")  # same member, other channel: not ordered after a1
    hold.set()
    await busy


async def test_a_reply_chain_waits_for_the_answer_it_replies_to() -> None:
    order, log = ConversationOrder(limit=4), Log()
    hold = asyncio.Event()
    first = asyncio.create_task(log.work(order, "c", 1, "question", hold, message_id=100))
    await asyncio.sleep(0.01)
    ticket = order._scopes["c"].by_message[100]
    order.link(ticket, 200)  # the answer's message
    follow = asyncio.create_task(log.work(order, "c", 2, "reply-to-answer", replies_to=200))
    other = asyncio.create_task(log.work(order, "c", 3, "unrelated"))
    await asyncio.wait_for(other, 1)
    assert "start reply-to-answer" not in log.events  # another member, but a reply to a running answer
    hold.set()
    await asyncio.wait_for(asyncio.gather(first, follow), 1)
    assert log.events.index("end question") < log.events.index("start reply-to-answer")


async def test_a_barrier_waits_for_everything_before_it_and_holds_everything_after() -> None:
    order, log = ConversationOrder(limit=4), Log()
    hold = asyncio.Event()
    before = asyncio.create_task(log.work(order, "c", 1, "before", hold))
    await asyncio.sleep(0.01)
    reset = asyncio.create_task(log.work(order, "c", 2, "reset", barrier=True))
    await asyncio.sleep(0.01)
    after = asyncio.create_task(log.work(order, "c", 3, "after"))
    await asyncio.sleep(0.05)
    assert log.events == ["start before"]
    hold.set()
    await asyncio.wait_for(asyncio.gather(before, reset, after), 1)
    assert log.events == ["start before", "end before", "start reset", "end reset", "start after", "end after"]


async def test_arrival_stamps_increase_even_within_one_clock_tick() -> None:
    order = ConversationOrder(limit=2, clock=lambda: 1000.0)
    tickets = [order.arrive("c", m) for m in range(5)]
    stamps = [t.arrived_at for t in tickets]
    assert stamps == sorted(stamps) and len(set(stamps)) == 5
    for t in tickets:
        t.leave()
    assert len(order) == 0


async def test_a_ticket_given_up_lets_the_next_go() -> None:
    order = ConversationOrder(limit=1)
    first = order.arrive("c", 1)
    second = order.arrive("c", 1)
    first.leave()  # e.g. refused by the rate limit after taking its place
    async with asyncio.timeout(1):
        await second.enter()
    second.leave()
    assert len(order) == 0


async def test_waiting_times_out_and_says_what_it_waits_for() -> None:
    order = ConversationOrder(limit=2)
    seen: list[tuple[str, int]] = []
    running = order.arrive("c", 1)
    await running.enter()
    mine_earlier = order.arrive("c", 2)
    await mine_earlier.enter()
    mine_later = order.arrive("c", 2)  # waits for member 2's earlier prompt, not for a place
    with pytest.raises(TimeoutError):
        await mine_later.enter(timeout=0.05, on_wait=lambda what, n: seen.append((what, n)))
    assert seen[0] == ("earlier", 0)
    running.leave()
    mine_earlier.leave()
    assert len(order) == 0


async def test_waiting_for_a_place_reports_the_position() -> None:
    order = ConversationOrder(limit=1)
    seen: list[tuple[str, int]] = []
    running = order.arrive("c", 1)
    await running.enter()
    queued = [order.arrive("c", m) for m in (2, 3)]
    waiters = [asyncio.create_task(t.enter(on_wait=lambda what, n, m=m: seen.append((m, what, n))))
               for m, t in zip((2, 3), queued, strict=True)]
    await asyncio.sleep(0.01)
    assert (3, "channel", 2) in seen and (2, "channel", 1) in seen
    running.leave()
    await asyncio.wait_for(waiters[0], 1)
    assert seen[-1] == (3, "channel", 1)
    queued[0].leave()
    await asyncio.wait_for(waiters[1], 1)
    queued[1].leave()


async def test_cancelled_while_waiting_leaves_its_place() -> None:
    order = ConversationOrder(limit=1)
    running = order.arrive("c", 1)
    await running.enter()
    waiting = order.arrive("c", 2)
    task = asyncio.create_task(waiting.enter())
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert waiting.finished
    running.leave()
    assert len(order) == 0
