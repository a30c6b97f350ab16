"""The scheduler under a clock the test moves, on both backends: ordering, wake-ups, batches, restarts, retries."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from datetime import date, time
from pathlib import Path

import aiosqlite
import pytest

from services.reminders import DeliveryResult, DueReminder, ReminderScheduler, ReminderStore, lateness_note
from services.reminders.models import NewReminder
from services.reminders.recurrence import Daily, Recurrence, localize
from services.storage import Database
from services.storage.sqlite.reminders import SqliteReminderStore
from tests.conftest import Backends
from tests.services.reminders.conftest import BERLIN, WAIT, FakeClock, Recorder

Factory = Callable[..., ReminderScheduler]


def new(due: float, recurrence: Recurrence | None = None, owner: int = 1) -> NewReminder:
    return NewReminder(owner_id=owner, guild_id=10, channel_id=20, dm=False, text="drink water", due_at=due,
                       recurrence=recurrence, tz="Europe/Berlin")


@pytest.fixture
async def make(store: ReminderStore, recorder: Recorder, clock: FakeClock) -> AsyncIterator[Factory]:
    """Build and start schedulers on the test clock; all are stopped at the end."""
    started: list[ReminderScheduler] = []

    def factory(deliver: Callable | None = None, *, on: ReminderStore | None = None,
                **options: object) -> ReminderScheduler:
        options.setdefault("max_attempts", 3)
        scheduler = ReminderScheduler(on or store, deliver or recorder, clock=clock, sleep=clock.sleep,
                                      **options)  # type: ignore[arg-type]
        scheduler.start()
        started.append(scheduler)
        return scheduler

    yield factory
    for scheduler in started:
        await scheduler.stop(grace=WAIT)


async def settle(scheduler: ReminderScheduler) -> None:
    await asyncio.wait_for(scheduler.wait_idle(), WAIT)


async def test_delivers_in_due_order_and_on_time(make: Factory, store: ReminderStore, clock: FakeClock,
                                                 recorder: Recorder) -> None:
    t0 = clock.now
    late = await store.add(new(t0 + 30))
    first = await store.add(new(t0 + 10))
    middle = await store.add(new(t0 + 20))
    scheduler = make()
    await settle(scheduler)
    assert scheduler.next_due_at == t0 + 10
    assert clock.deadlines == [t0 + 10]  # one task, one sleep, not one per reminder
    for step, expected in ((10, [first.id]), (20, [first.id, middle.id]), (30, [first.id, middle.id, late.id])):
        await clock.advance_to(t0 + step)
        await settle(scheduler)
        assert recorder.ids() == expected
    assert [when for when, _ in recorder.calls] == [t0 + 10, t0 + 20, t0 + 30]
    assert [due.late_by for _, due in recorder.calls] == [0, 0, 0]
    assert scheduler.next_due_at is None and clock.deadlines == []  # nothing pending: no timer at all
    assert {(await store.get(i)).state for i in (first.id, middle.id, late.id)} == {"delivered"}


async def test_several_due_together_go_in_due_order(make: Factory, store: ReminderStore, clock: FakeClock,
                                                    recorder: Recorder) -> None:
    t0 = clock.now
    c = await store.add(new(t0 + 30))
    a = await store.add(new(t0 + 10))
    b = await store.add(new(t0 + 20))
    scheduler = make()
    await settle(scheduler)
    await clock.advance(45)
    await settle(scheduler)
    assert recorder.ids() == [a.id, b.id, c.id]
    assert [due.late_by for _, due in recorder.calls] == [35, 25, 15]


async def test_wakes_up_for_a_sooner_reminder(make: Factory, store: ReminderStore, clock: FakeClock,
                                              recorder: Recorder) -> None:
    t0 = clock.now
    await store.add(new(t0 + 100))
    scheduler = make()
    await settle(scheduler)
    assert clock.deadlines == [t0 + 100]
    sooner = await store.add(new(t0 + 10))
    scheduler.notify(sooner.due_at)
    await settle(scheduler)
    assert scheduler.next_due_at == t0 + 10
    assert clock.deadlines == [t0 + 10]
    later = await store.add(new(t0 + 50))
    scheduler.notify(later.due_at)  # not sooner: keeps sleeping until t0 + 10
    await settle(scheduler)
    assert clock.deadlines == [t0 + 10]
    await clock.advance(10)
    await settle(scheduler)
    assert recorder.ids() == [sooner.id]
    assert scheduler.next_due_at == t0 + 50


async def test_wakes_up_from_an_empty_queue(make: Factory, store: ReminderStore, clock: FakeClock,
                                            recorder: Recorder) -> None:
    scheduler = make()
    await settle(scheduler)
    assert scheduler.next_due_at is None and clock.deadlines == []
    added = await store.add(new(clock.now + 5))
    scheduler.notify(added.due_at)
    await settle(scheduler)
    await clock.advance(5)
    await settle(scheduler)
    assert recorder.ids() == [added.id]


async def test_cancelling_the_next_one_retargets_the_sleep(make: Factory, store: ReminderStore,
                                                           clock: FakeClock, recorder: Recorder) -> None:
    t0 = clock.now
    doomed = await store.add(new(t0 + 10))
    kept = await store.add(new(t0 + 50))
    scheduler = make()
    await settle(scheduler)
    assert await store.cancel(doomed.id)
    scheduler.notify(doomed.due_at)
    await settle(scheduler)
    assert scheduler.next_due_at == t0 + 50 and clock.deadlines == [t0 + 50]
    await clock.advance(10)
    await settle(scheduler)
    assert recorder.calls == []
    await clock.advance(40)
    await settle(scheduler)
    assert recorder.ids() == [kept.id]


async def test_a_thousand_due_at_once_are_each_delivered_once(make: Factory, store: ReminderStore,
                                                              clock: FakeClock, recorder: Recorder) -> None:
    due = clock.now + 60
    ids = {(await store.add(new(due, owner=i))).id for i in range(1_000)}
    scheduler = make(batch_size=200, concurrency=20)
    await settle(scheduler)
    await clock.advance(60)
    await settle(scheduler)
    assert len(recorder.calls) == 1_000
    assert set(recorder.ids()) == ids
    rows = [await store.get(i) for i in ids]
    assert {(r.state, r.deliveries) for r in rows} == {("delivered", 1)}
    stats = scheduler.stats()
    assert stats.delivered == 1_000 and stats.lateness_max == 0


async def test_restart_delivers_what_came_due_while_down(backends: Backends, clock: FakeClock,
                                                         recorder: Recorder, make: Factory) -> None:
    before = await backends.open()
    store = before.reminders(clock=clock)
    t0 = clock.now
    once = await store.add(new(t0 + 60))
    daily_rule = Daily(1, time(9), date(2026, 3, 26))
    daily = await store.add(new(localize(date(2026, 3, 26), time(9), BERLIN).timestamp(), daily_rule))
    first = make(on=store)
    await settle(first)
    await first.stop()
    await before.close()

    await clock.advance(3 * 86_400)  # the bot was down for three days
    after = await backends.open()
    try:
        second = make(on=after.reminders(clock=clock))
        await settle(second)
        assert sorted(recorder.ids()) == sorted([once.id, daily.id])  # each once: no backlog replay
        late = {due.reminder.id: due.late_by for _, due in recorder.calls}
        assert late[once.id] == 3 * 86_400 - 60
        assert lateness_note(late[once.id]) is not None
        again = await after.reminders().get(daily.id)
        assert again.state == "pending" and again.deliveries == 1
        # Advanced to the next 09:00 after now (2026-03-29 is after the DST change: 07:00 UTC).
        assert again.due_at == localize(date(2026, 3, 29), time(9), BERLIN).timestamp()
        assert (await after.reminders().get(once.id)).state == "delivered"
    finally:
        await second.stop()


async def test_failed_delivery_is_retried_with_backoff_then_marked_failed(
        make: Factory, store: ReminderStore, clock: FakeClock, recorder: Recorder) -> None:
    t0 = clock.now
    added = await store.add(new(t0 + 10))
    recorder.results[added.id] = [DeliveryResult.failed("403 Missing Access; DMs closed")] * 3
    scheduler = make(max_attempts=3, retry_delay=60, retry_max_delay=900)
    await settle(scheduler)
    await clock.advance(10)
    await settle(scheduler)
    row = await store.get(added.id)
    assert (row.state, row.attempts, row.due_at, row.occurrence_at) == ("pending", 1, t0 + 70, t0 + 10)
    assert row.last_error == "403 Missing Access; DMs closed"
    await clock.advance(60)
    await settle(scheduler)
    assert (await store.get(added.id)).due_at == t0 + 70 + 120
    await clock.advance(120)
    await settle(scheduler)
    row = await store.get(added.id)
    assert (row.state, row.attempts, row.last_error) == ("failed", 3, "403 Missing Access; DMs closed")
    assert [when for when, _ in recorder.calls] == [t0 + 10, t0 + 70, t0 + 190]
    assert [due.attempt for _, due in recorder.calls] == [1, 2, 3]
    assert [due.late_by for _, due in recorder.calls] == [0, 60, 180]  # measured from the asked time
    assert scheduler.stats().failed == 1 and scheduler.stats().retried == 2


async def test_a_retry_can_succeed(make: Factory, store: ReminderStore, clock: FakeClock,
                                   recorder: Recorder) -> None:
    added = await store.add(new(clock.now + 1))
    recorder.results[added.id] = [DeliveryResult.failed("503 Service Unavailable")]
    scheduler = make(retry_delay=30)
    await settle(scheduler)
    await clock.advance(1)
    await settle(scheduler)
    await clock.advance(30)
    await settle(scheduler)
    row = await store.get(added.id)
    assert (row.state, row.deliveries, len(recorder.calls)) == ("delivered", 1, 2)


async def test_recurring_reminder_advances_and_skips_an_occurrence_it_cannot_deliver(
        make: Factory, store: ReminderStore, clock: FakeClock, recorder: Recorder) -> None:
    rule = Daily(1, time(11), date(2026, 3, 25))
    first = localize(date(2026, 3, 25), time(11), BERLIN).timestamp()
    added = await store.add(new(first, rule))
    scheduler = make(max_attempts=2, retry_delay=60)
    await settle(scheduler)
    await clock.advance_to(first)
    await settle(scheduler)
    row = await store.get(added.id)
    second = localize(date(2026, 3, 26), time(11), BERLIN).timestamp()
    # Delivered and advanced in the same row update.
    assert (row.state, row.due_at, row.occurrence_at, row.deliveries, row.delivered_at) == \
        ("pending", second, second, 1, first)
    recorder.results[added.id] = [DeliveryResult.failed("channel deleted")] * 2
    await clock.advance_to(second)
    await settle(scheduler)
    await clock.advance(60)
    await settle(scheduler)
    row = await store.get(added.id)
    third = localize(date(2026, 3, 27), time(11), BERLIN).timestamp()
    assert (row.state, row.due_at, row.attempts, row.last_error, row.deliveries) == \
        ("pending", third, 0, "channel deleted", 1)
    assert scheduler.stats().skipped == 1


async def test_permanent_failure_ends_even_a_recurring_reminder(make: Factory, store: ReminderStore,
                                                                clock: FakeClock, recorder: Recorder) -> None:
    added = await store.add(new(clock.now + 1, Daily(1, time(11), date(2026, 3, 25))))
    recorder.results[added.id] = [DeliveryResult.failed("owner unreachable", permanent=True)]
    scheduler = make(max_attempts=5)
    await settle(scheduler)
    await clock.advance(1)
    await settle(scheduler)
    row = await store.get(added.id)
    assert (row.state, row.attempts, row.last_error) == ("failed", 1, "owner unreachable")


async def test_a_raising_deliver_counts_as_a_failed_attempt(make: Factory, store: ReminderStore,
                                                            clock: FakeClock, recorder: Recorder,
                                                            caplog: pytest.LogCaptureFixture) -> None:
    bad = await store.add(new(clock.now + 1))
    good = await store.add(new(clock.now + 1))

    async def deliver(due: DueReminder) -> DeliveryResult:
        if due.reminder.id == bad.id:
            raise KeyError("bug in the cog")
        return await recorder(due)

    scheduler = make(deliver, retry_delay=60)
    await settle(scheduler)
    with caplog.at_level(logging.ERROR, "services.reminders.scheduler"):
        await clock.advance(1)
        await settle(scheduler)
    assert recorder.ids() == [good.id]
    row = await store.get(bad.id)
    assert (row.state, row.attempts) == ("pending", 1)
    assert "internal error" in row.last_error and "KeyError" in caplog.text
    assert scheduler.running


async def test_a_hanging_deliver_times_out(make: Factory, store: ReminderStore, clock: FakeClock) -> None:
    added = await store.add(new(clock.now + 1))
    never = asyncio.Event()

    async def deliver(due: DueReminder) -> DeliveryResult:
        await never.wait()
        return DeliveryResult.sent("channel")

    scheduler = make(deliver, deliver_timeout=0.05)
    await settle(scheduler)
    await clock.advance(1)
    await settle(scheduler)
    row = await store.get(added.id)
    assert row.attempts == 1 and row.last_error == "delivery took longer than 0.05 s"


async def test_cancel_during_delivery_stays_cancelled(make: Factory, store: ReminderStore,
                                                      clock: FakeClock) -> None:
    added = await store.add(new(clock.now + 1))
    entered, release = asyncio.Event(), asyncio.Event()

    async def deliver(due: DueReminder) -> DeliveryResult:
        entered.set()
        await release.wait()
        return DeliveryResult.sent("dm")

    scheduler = make(deliver)
    await settle(scheduler)
    await clock.advance(1)
    await asyncio.wait_for(entered.wait(), WAIT)
    assert await store.cancel(added.id)
    scheduler.notify(added.due_at)
    release.set()
    await settle(scheduler)
    row = await store.get(added.id)
    assert (row.state, row.deliveries) == ("cancelled", 0)


async def test_stopping_mid_delivery_loses_nothing(make: Factory, store: ReminderStore, clock: FakeClock,
                                                   recorder: Recorder) -> None:
    added = await store.add(new(clock.now + 1))
    entered = asyncio.Event()

    async def stuck(due: DueReminder) -> DeliveryResult:
        entered.set()
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    first = make(stuck)
    await settle(first)
    await clock.advance(1)
    await asyncio.wait_for(entered.wait(), WAIT)
    await first.stop(grace=0.01)  # the process goes away before the commit
    assert not first.running
    assert (await store.get(added.id)).state == "pending"  # on PostgreSQL: its claim given back
    second = make()
    await settle(second)
    assert recorder.ids() == [added.id]  # the documented duplicate window: sent again, never lost


@pytest.mark.parametrize("backends", ["sqlite"], indirect=True)  # another SQLite writer holding the lock
async def test_a_database_refusing_writes_causes_no_duplicates(tmp_path: Path, clock: FakeClock,
                                                               recorder: Recorder, make: Factory) -> None:
    path = tmp_path / "locked.db"
    db = await Database.open(path, busy_timeout_ms=50)
    blocker = await aiosqlite.connect(path, isolation_level=None)
    try:
        store = SqliteReminderStore(db, clock=clock)
        added = await store.add(new(clock.now + 1))
        scheduler = make(on=store)
        await settle(scheduler)
        await blocker.execute("BEGIN IMMEDIATE")  # another writer holds the lock
        await clock.advance(1)
        await clock.wait_for_sleeper(clock.now + 5)  # commit failed; waiting to retry
        await blocker.execute("ROLLBACK")
        await clock.advance(5)
        await settle(scheduler)
        assert recorder.ids() == [added.id]
        assert (await store.get(added.id)).state == "delivered"
    finally:
        await scheduler.stop()
        await blocker.close()
        await db.close()


async def test_stats_report_lateness(make: Factory, store: ReminderStore, clock: FakeClock) -> None:
    t0 = clock.now
    for offset in range(1, 11):
        await store.add(new(t0 + offset))
    scheduler = make()
    await settle(scheduler)
    await clock.advance(20)
    await settle(scheduler)
    stats = scheduler.stats()
    assert stats.delivered == 10
    assert (stats.lateness_p50, stats.lateness_p99, stats.lateness_max) == (14, 19, 19)


async def test_claimed_ahead_but_delivered_on_the_dot(make: Factory, store: ReminderStore, clock: FakeClock,
                                                      recorder: Recorder, backends: Backends) -> None:
    """With a lookahead the scheduler wakes and claims early (the claim is not added to the lateness),
    then delivers each reminder at its time, never before."""
    t0 = clock.now
    first, second = await store.add(new(t0 + 60)), await store.add(new(t0 + 61))
    scheduler = make(lookahead=5)
    await clock.wait_for_sleeper(t0 + 55)  # wakes early...
    await clock.advance(55)
    await clock.wait_for_sleeper(t0 + 60)  # ...claims, and waits for the first one's time
    assert recorder.calls == []
    if backends.kind == "postgres":
        assert (await store.get(first.id)).state == "delivering"
    await clock.advance(5)
    await recorder.wait_for_calls(1)
    await clock.advance(1)
    await recorder.wait_for_calls(2)
    assert [(at, due.reminder.id, due.late_by) for at, due in recorder.calls] == [
        (t0 + 60, first.id, 0.0), (t0 + 61, second.id, 0.0)]
    await settle(scheduler)
    assert (await store.get(second.id)).state == "delivered"
