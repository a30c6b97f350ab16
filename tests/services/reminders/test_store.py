"""ReminderStore on both backends: limits, ordering, claims and the pending guard, pruning, time zones;
then what is SQLite's own (its indexes, its upgrade path)."""

from __future__ import annotations

import asyncio
from datetime import date, time

import pytest

from services.reminders import ReminderStore, TooManyReminders
from services.reminders.models import NewReminder, Outcome, Reminder
from services.reminders.recurrence import Daily
from services.shards import Shards
from services.storage import Database
from services.storage.db import MIGRATIONS_DIR, split_statements
from services.storage.sqlite.reminders import SqliteReminderStore
from tests.conftest import Backends
from tests.services.reminders.conftest import FakeClock


def new(owner: int = 1, due: float = 2_000.0, **changes: object) -> NewReminder:
    values: dict[str, object] = dict(owner_id=owner, guild_id=10, channel_id=20, dm=False, text="stretch",
                                     due_at=due, recurrence=None, tz="Europe/Berlin")
    values.update(changes)
    return NewReminder(**values)  # type: ignore[arg-type]


async def test_migration_is_idempotent(db: Database) -> None:
    sql = (MIGRATIONS_DIR / "0004_reminders.sql").read_text("utf-8")
    async with db.transaction() as tx:
        for statement in split_statements(sql):
            await tx.execute(statement)
    names = {r[0] for r in await db.fetchall("SELECT name FROM sqlite_master")}
    assert {"reminders", "user_settings", "reminders_state_due", "reminders_owner_state"} <= names


async def test_add_and_get_round_trip(store: ReminderStore, clock: FakeClock) -> None:
    rule = Daily(1, time(9), date(2026, 3, 26))
    added = await store.add(new(recurrence=rule, dm=True, text="take the pills 💊"))
    got = await store.get(added.id)
    assert got == added
    assert got.recurrence == rule and got.dm is True and got.text == "take the pills 💊"
    assert got.state == "pending" and got.attempts == 0 and got.deliveries == 0
    assert got.due_at == got.occurrence_at == 2_000.0
    assert got.created_at == clock.now
    assert await store.get(added.id + 1) is None


async def test_leaving_a_server_cancels_what_was_set_there_and_forget_me_erases_everything(
        store: ReminderStore, clock: FakeClock) -> None:
    big = 2**62  # 64-bit Discord ids
    here = [await store.add(new(owner=big, guild_id=10)), await store.add(new(owner=big, guild_id=10, due=1_000.0))]
    elsewhere = await store.add(new(owner=big, guild_id=11))
    dm = await store.add(new(owner=big, guild_id=None, channel_id=None, dm=True))
    other = await store.add(new(owner=2, guild_id=10))
    claimed = await store.claim_due(1_500.0, 10, claim="p1")  # one is out for delivery: cancelled too
    assert [r.id for r in claimed] == [here[1].id]
    cancelled = await store.cancel_in_guild(big, 10, "left the server")
    assert [r.id for r in cancelled] == [here[1].id, here[0].id]  # earliest first
    assert all(r.state == "cancelled" and r.last_error == "left the server" for r in cancelled)
    assert await store.cancel_in_guild(big, 10, "again") == []
    assert (await store.get(elsewhere.id)).state == "pending" and (await store.get(other.id)).state == "pending"
    assert await store.apply([Outcome(here[1].id, "delivered", 1_000.0, 1_000.0, 0, None, 1_600.0)],
                             claim="p1") == 0  # a cancelled claim is not delivered after all

    await store.set_timezone(big, "Asia/Tokyo")
    assert await store.count_all(big) == 4 and await store.count_pending(big) == 2
    assert await store.delete_owner(big) == 4
    assert await store.count_all(big) == 0 and await store.get(dm.id) is None
    assert await store.get_timezone(big) is None
    assert await store.count_all(2) == 1


async def test_per_user_limit_is_checked_with_the_insert(store: ReminderStore) -> None:
    for _ in range(3):
        await store.add(new(owner=1), max_pending=3)
    await store.add(new(owner=2), max_pending=3)  # other users are not counted
    with pytest.raises(TooManyReminders, match="already have 3 pending reminders"):
        await store.add(new(owner=1), max_pending=3)
    first = (await store.list_pending(1, limit=1))[0]
    assert await store.cancel(first.id)
    await store.add(new(owner=1), max_pending=3)  # cancelled ones free a slot
    assert await store.count_pending(1) == 3


async def test_next_due_and_due_batches_in_order(store: ReminderStore) -> None:
    assert await store.next_due_at() is None
    late = await store.add(new(due=3_000.0))
    early = await store.add(new(due=1_000.0))
    tie = await store.add(new(due=1_000.0))
    assert await store.next_due_at() == 1_000.0
    assert [r.id for r in await store.due(2_000.0, 10)] == [early.id, tie.id]
    assert [r.id for r in await store.due(3_000.0, 2)] == [early.id, tie.id]
    assert [r.id for r in await store.due(3_000.0, 10)] == [early.id, tie.id, late.id]
    assert await store.due(999.0, 10) == []


async def test_scheduler_queries_use_the_index(db: Database) -> None:
    plan = await db.fetchall(
        "EXPLAIN QUERY PLAN SELECT due_at FROM reminders WHERE state = 'pending' ORDER BY due_at LIMIT 1")
    detail = " ".join(str(r["detail"]) for r in plan)
    assert "reminders_state_due" in detail and "TEMP B-TREE" not in detail


async def test_cancel_only_pending(store: ReminderStore) -> None:
    added = await store.add(new())
    assert await store.cancel(added.id) is True
    assert await store.cancel(added.id) is False
    assert (await store.get(added.id)).state == "cancelled"
    assert await store.next_due_at() is None


async def claim(store: ReminderStore, *ids: int, token: str = "me") -> None:
    """Claim these due rows for delivery, as the scheduler does before it applies outcomes."""
    claimed = {r.id for r in await store.claim_due(1e12, 10_000, claim=token)}
    assert set(ids) <= claimed, "a row to apply to was not claimed"


async def test_apply_never_overrides_a_cancel(store: ReminderStore) -> None:
    kept = await store.add(new())
    cancelled = await store.add(new())
    await claim(store, kept.id, cancelled.id)
    await store.cancel(cancelled.id)
    changed = await store.apply([
        Outcome(kept.id, "delivered", 2_000.0, 2_000.0, 0, None, delivered_at=2_001.0),
        Outcome(cancelled.id, "delivered", 2_000.0, 2_000.0, 0, None, delivered_at=2_001.0),
    ], claim="me")
    assert changed == 1
    assert (await store.get(kept.id)).state == "delivered"
    row = await store.get(cancelled.id)
    assert row.state == "cancelled" and row.deliveries == 0


async def test_apply_advances_a_recurring_row_in_one_update(store: ReminderStore) -> None:
    added = await store.add(new(recurrence=Daily(1, time(9), date(2026, 3, 26))))
    await claim(store, added.id)
    await store.apply([Outcome(added.id, "pending", 90_000.0, 90_000.0, 0, None, delivered_at=2_003.0)], claim="me")
    row = await store.get(added.id)
    assert (row.state, row.due_at, row.occurrence_at, row.delivered_at, row.deliveries) == \
        ("pending", 90_000.0, 90_000.0, 2_003.0, 1)
    # A failed attempt keeps the last delivery time.
    await claim(store, added.id)
    await store.apply([Outcome(added.id, "pending", 90_060.0, 90_000.0, 1, "no access", None)], claim="me")
    row = await store.get(added.id)
    assert (row.attempts, row.last_error, row.delivered_at, row.deliveries) == (1, "no access", 2_003.0, 1)


async def test_list_pending_pages_in_due_order(store: ReminderStore) -> None:
    ids = [(await store.add(new(due=1_000.0 + i))).id for i in range(5)]
    await store.add(new(owner=2))
    assert [r.id for r in await store.list_pending(1, limit=2)] == ids[:2]
    assert [r.id for r in await store.list_pending(1, limit=2, offset=4)] == ids[4:]


async def test_user_timezones(store: ReminderStore, clock: FakeClock) -> None:
    assert await store.get_timezone(7) is None
    await store.set_timezone(7, "Europe/Berlin")
    await clock.advance(10)
    await store.set_timezone(7, "America/New_York")
    assert await store.get_timezone(7) == "America/New_York"
    assert await store.get_timezone(8) is None


async def test_rows_survive_reopening(backends: Backends) -> None:
    first = await backends.open()
    added = await first.reminders().add(new())
    await first.close()
    assert await (await backends.open()).reminders().get(added.id) == added


async def finished_at(db: Database, reminder_id: int) -> float | None:
    row = await db.fetchone("SELECT finished_at FROM reminders WHERE id = ?", (reminder_id,))
    assert row is not None
    return row[0]


async def test_prune_forgets_only_reminders_finished_before_the_cutoff(store: ReminderStore,
                                                                       clock: FakeClock) -> None:
    delivered, failed, cancelled = [await store.add(new()) for _ in range(3)]
    recurring = await store.add(new(recurrence=Daily(1, time(9), date(2026, 3, 26))))
    overdue = await store.add(new(due=1.0))  # pending, however old, is never pruned
    start = clock.now
    await claim(store, delivered.id, failed.id, recurring.id)
    await store.release("me")  # claimed rows given back unapplied are pending again
    await claim(store, delivered.id, failed.id, recurring.id)
    await store.apply([
        Outcome(delivered.id, "delivered", 2_000.0, 2_000.0, 0, None, delivered_at=start),
        Outcome(failed.id, "failed", 2_000.0, 2_000.0, 5, "no access", None),
        Outcome(recurring.id, "pending", 90_000.0, 90_000.0, 0, None, delivered_at=start),
    ], claim="me")
    await store.release("me")  # overdue was claimed too: back to pending
    await clock.advance(100)
    await store.cancel(cancelled.id)

    assert await store.prune_finished(start) == 0  # strictly older than the cutoff
    assert await store.prune_finished(start + 50) == 2
    assert await store.get(delivered.id) is None and await store.get(failed.id) is None
    assert (await store.get(cancelled.id)).state == "cancelled"
    assert await store.prune_finished(clock.now + 1e9) == 1
    assert {r.id for r in await store.due(clock.now + 1e9, 10)} == {recurring.id, overdue.id}


async def test_prune_deletes_a_backlog_in_batches(store: ReminderStore, clock: FakeClock) -> None:
    ids = [(await store.add(new())).id for _ in range(7)]
    await claim(store, *ids)
    await store.apply([Outcome(i, "delivered", 2_000.0, 2_000.0, 0, None, delivered_at=clock.now) for i in ids],
                      claim="me")
    kept = await store.add(new())
    assert await store.prune_finished(clock.now + 1, batch=3) == 7
    assert [await store.get(i) for i in ids] == [None] * 7
    assert await store.get(kept.id) is not None


async def test_prune_uses_its_index(db: Database) -> None:
    plan = await db.fetchall(
        "EXPLAIN QUERY PLAN DELETE FROM reminders WHERE rowid IN (SELECT rowid FROM reminders "
        "WHERE state != 'pending' AND finished_at < 5 ORDER BY finished_at LIMIT 10)")
    detail = " ".join(str(r["detail"]) for r in plan)
    assert "reminders_finished" in detail and "TEMP B-TREE" not in detail


async def test_upgrade_dates_reminders_finished_before_the_column_existed(tmp_path) -> None:
    path = tmp_path / "bot.db"
    old = await Database.open(path, target_version=7)
    store = SqliteReminderStore(old, clock=lambda: 1_000.0)
    delivered, cancelled, pending = [await store.add(new()) for _ in range(3)]
    await old.execute("UPDATE reminders SET state = 'delivered', delivered_at = 1500 WHERE id = ?", (delivered.id,))
    await old.execute("UPDATE reminders SET state = 'cancelled' WHERE id = ?", (cancelled.id,))
    await old.close()
    db = await Database.open(path)
    try:
        assert [await finished_at(db, r.id) for r in (delivered, cancelled, pending)] == [1_500.0, 1_000.0, None]
        assert await SqliteReminderStore(db).prune_finished(1_200.0) == 1
        assert await SqliteReminderStore(db).get(pending.id) is not None
    finally:
        await db.close()


# --- claims and shards -----------------------------------------------------------------------------

GUILD_ON_SHARD = {0: 0 << 22, 1: 1 << 22}  # guild ids whose shard of 2 is 0 and 1


async def test_claims_and_due_follow_the_shards(store: ReminderStore) -> None:
    on_0 = await store.add(new(guild_id=GUILD_ON_SHARD[0] + 2))
    on_1 = await store.add(new(guild_id=GUILD_ON_SHARD[1] + 2, due=1_500.0))
    in_dm = await store.add(new(guild_id=None, due=1_800.0))  # DMs belong to shard 0
    first, second = Shards.of(2, [0]), Shards.of(2, [1])
    assert [r.id for r in await store.due(9_999.0, 10, first)] == [in_dm.id, on_0.id]
    assert [r.id for r in await store.due(9_999.0, 10, second)] == [on_1.id]
    assert await store.next_due_at(first) == 1_800.0 and await store.next_due_at(second) == 1_500.0
    assert await store.next_due_at() == 1_500.0
    assert [r.id for r in await store.claim_due(9_999.0, 10, shards=second, claim="b")] == [on_1.id]
    assert {r.id for r in await store.claim_due(9_999.0, 10, shards=first, claim="a")} == {on_0.id, in_dm.id}


@pytest.mark.parametrize("backends", ["postgres"], indirect=True)
async def test_a_claimed_row_is_not_claimed_again_until_its_claim_expires(store: ReminderStore,
                                                                         clock: FakeClock) -> None:
    added = await store.add(new(due=clock.now))
    (claimed,) = await store.claim_due(clock.now, 10, claim="a", lease=30)
    assert claimed.id == added.id and claimed.state == "delivering"
    assert await store.claim_due(clock.now + 29, 10, claim="b") == []
    assert await store.next_due_at() == clock.now + 30  # when the claim may be taken over
    # Still the owner's: listed, counted, cancellable.
    assert [r.id for r in await store.list_pending(1, limit=10)] == [added.id]
    assert await store.count_pending(1) == 1
    assert await store.renew("a", clock.now + 60) == 1
    assert await store.claim_due(clock.now + 31, 10, claim="b") == []
    (taken,) = await store.claim_due(clock.now + 61, 10, claim="b")  # "a" stopped renewing: it died
    assert taken.id == added.id
    # "a" comes back from the dead with its result: the claim fence refuses it.
    late = Outcome(added.id, "delivered", added.due_at, added.occurrence_at, 0, None, delivered_at=clock.now)
    assert await store.apply([late], claim="a") == 0
    assert await store.apply([late], claim="b") == 1
    row = await store.get(added.id)
    assert (row.state, row.deliveries) == ("delivered", 1)


@pytest.mark.parametrize("backends", ["postgres"], indirect=True)
async def test_release_gives_back_only_its_own_claims(store: ReminderStore, clock: FakeClock) -> None:
    mine, theirs = await store.add(new(due=clock.now)), await store.add(new(due=clock.now))
    await store.claim_due(clock.now, 1, claim="mine")
    await store.claim_due(clock.now, 1, claim="theirs")
    assert await store.release("mine") == 1
    assert (await store.get(mine.id)).state == "pending"
    assert (await store.get(theirs.id)).state == "delivering"
    assert [r.id for r in await store.claim_due(clock.now, 10, claim="next")] == [mine.id]


@pytest.mark.parametrize("backends", ["postgres"], indirect=True)
async def test_cancel_while_being_delivered_wins(store: ReminderStore, clock: FakeClock) -> None:
    added = await store.add(new(due=clock.now))
    await store.claim_due(clock.now, 1, claim="a")
    assert await store.cancel(added.id)
    done = Outcome(added.id, "delivered", added.due_at, added.occurrence_at, 0, None, delivered_at=clock.now)
    assert await store.apply([done], claim="a") == 0
    assert (await store.get(added.id)).state == "cancelled"


@pytest.mark.parametrize("backends", ["postgres"], indirect=True)
async def test_two_processes_claiming_at_once_never_share_a_row(backends: Backends, clock: FakeClock) -> None:
    one, other = (await backends.open()).reminders(clock=clock), (await backends.open()).reminders(clock=clock)
    ids = {(await one.add(new(owner=i, due=clock.now))).id for i in range(400)}

    async def drain(store: ReminderStore, token: str) -> list[int]:
        got: list[int] = []
        while batch := await store.claim_due(clock.now, 25, claim=token):
            got += [r.id for r in batch]
            await asyncio.sleep(0)
        return got

    first, second = await asyncio.gather(drain(one, "one"), drain(other, "other"))
    assert not set(first) & set(second)
    assert set(first) | set(second) == ids
    assert first and second, "both should have claimed some (SKIP LOCKED lets them work side by side)"


@pytest.mark.parametrize("backends", ["postgres"], indirect=True)
async def test_the_per_user_limit_holds_across_processes(backends: Backends) -> None:
    stores = [(await backends.open()).reminders() for _ in range(2)]
    outcomes = await asyncio.gather(*(stores[i % 2].add(new(owner=5), max_pending=3) for i in range(8)),
                                    return_exceptions=True)
    assert sum(isinstance(o, Reminder) for o in outcomes) == 3
    assert all(isinstance(o, TooManyReminders) for o in outcomes if not isinstance(o, Reminder))
    assert await stores[0].count_pending(5) == 3


@pytest.mark.parametrize("backends", ["postgres"], indirect=True)
async def test_another_process_hears_adds_and_cancels(backends: Backends) -> None:
    writer, reader_backend = await backends.open(), await backends.open()
    reader = reader_backend.reminders()
    heard: list[tuple[float, int | None]] = []
    arrived = asyncio.Event()

    def callback(due_at: float, guild_id: int | None) -> None:
        heard.append((due_at, guild_id))
        arrived.set()

    reader.subscribe(callback)
    await reader_backend.start()
    added = await writer.reminders().add(new(due=3_000.0, guild_id=42))
    await asyncio.wait_for(arrived.wait(), 5)
    arrived.clear()
    await writer.reminders().cancel(added.id)
    await asyncio.wait_for(arrived.wait(), 5)
    assert heard == [(3_000.0, 42), (3_000.0, 42)]
