"""ReminderService: request validation, listing, cancelling, time zones, scheduler wiring."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime

import pytest

from config.settings import load_settings
from services.reminders import (
    BeyondHorizon,
    IntervalTooShort,
    InvalidText,
    ParseError,
    ReminderNotFound,
    ReminderService,
    ReminderStore,
    TimeInPast,
    TooManyReminders,
    UnknownTimezone,
)
from services.storage import Database
from services.storage.sqlite.reminders import SqliteReminderStore
from tests.services.reminders.conftest import BERLIN, NEW_YORK, WAIT, FakeClock, Recorder


@pytest.fixture
async def service(store: ReminderStore, clock: FakeClock) -> AsyncIterator[ReminderService]:
    svc = ReminderService(store, default_tz="Europe/Berlin", max_horizon_days=30, min_interval=300,
                          max_per_user=3, max_attempts=3, clock=clock, sleep=clock.sleep)
    yield svc
    await svc.stop()


async def create(service: ReminderService, when: str, *, owner: int = 1, guild: int | None = 10,
                 text: str = "call mom", dm: bool = False):
    return await service.create(owner_id=owner, guild_id=guild, channel_id=20, when=when, text=text, dm=dm)


async def test_create_stores_in_the_users_zone(service: ReminderService, clock: FakeClock) -> None:
    berlin = await create(service, "tomorrow 9am")
    assert berlin.tz == "Europe/Berlin"  # the default zone
    assert datetime.fromtimestamp(berlin.due_at, BERLIN).isoformat() == "2026-03-26T09:00:00+01:00"
    zone = await service.set_timezone(2, "america/new_york")
    assert zone.key == "America/New_York"
    york = await create(service, "tomorrow 9am", owner=2, dm=True)
    assert (york.tz, york.dm, york.channel_id) == ("America/New_York", True, 20)
    assert datetime.fromtimestamp(york.due_at, NEW_YORK).isoformat() == "2026-03-26T09:00:00-04:00"
    weekly = await create(service, "every monday 8:30", owner=2)
    assert weekly.recurrence is not None and weekly.recurrence.describe() == "every Monday at 08:30"


@pytest.mark.parametrize(("when", "text", "error", "fragment"), [
    ("today 8am", "x", TimeInPast, "2026-03-25 08:00 (Europe/Berlin) is already past"),
    ("2020-01-01", "x", TimeInPast, "already past"),
    ("in 31 days", "x", BeyondHorizon, "at most 30 days ahead"),
    ("2026-12-24", "x", BeyondHorizon, "274 days away"),
    ("every 90 seconds", "x", IntervalTooShort, "shortest repeat allowed is every 5 minutes"),
    ("every 4 minutes", "x", IntervalTooShort, "That repeats every 4 minutes"),
    ("in 10 minutes", "", InvalidText, "what to remind you about"),
    ("in 10 minutes", "   ", InvalidText, "what to remind you about"),
    ("in 10 minutes", "x" * 1_001, InvalidText, "1,001 characters long; the limit is 1,000"),
    ("whenever", "x", ParseError, "couldn't read “whenever”"),
])
async def test_bad_requests_are_refused_clearly(service: ReminderService, when: str, text: str,
                                                error: type, fragment: str) -> None:
    with pytest.raises(error) as caught:
        await create(service, when, text=text)
    assert fragment in str(caught.value)
    assert await service.store.count_pending(1) == 0


async def test_limits_at_their_edges_are_accepted(service: ReminderService) -> None:
    assert (await create(service, "every 5 minutes", text="x" * 1_000)).text == "x" * 1_000
    await create(service, "in 30 days")


async def test_too_many_pending(service: ReminderService) -> None:
    for minutes in (10, 20, 30):
        await create(service, f"in {minutes} minutes")
    with pytest.raises(TooManyReminders, match="the most allowed \\(3\\)"):
        await create(service, "in 40 minutes")
    await create(service, "in 40 minutes", owner=2)


async def test_list_pending_pages(store: ReminderStore, clock: FakeClock) -> None:
    service = ReminderService(store, max_per_user=50, clock=clock)
    for minute in range(1, 24):
        await create(service, f"in {minute} minutes")
    page = await service.list_pending(1, page=3, per_page=10)
    assert (page.page, page.pages, page.total, len(page.items)) == (3, 3, 23, 3)
    assert [r.text for r in page.items] == ["call mom"] * 3
    first = await service.list_pending(1)
    assert [r.due_at for r in first.items] == sorted(r.due_at for r in first.items)
    assert (await service.list_pending(1, page=99)).page == 3  # clamped
    empty = await service.list_pending(2)
    assert (empty.page, empty.pages, empty.total, empty.items) == (1, 1, 0, [])


async def test_cancel_permissions(service: ReminderService) -> None:
    mine = await create(service, "in 10 minutes", owner=1, guild=10)
    other = await create(service, "in 10 minutes", owner=2, guild=10)
    elsewhere = await create(service, "in 10 minutes", owner=3, guild=99)
    assert (await service.cancel(mine.id, requester_id=1)).state == "cancelled"
    with pytest.raises(ReminderNotFound, match=f"no reminder #{other.id}"):
        await service.cancel(other.id, requester_id=1, guild_id=10)
    with pytest.raises(ReminderNotFound):  # Manage Server only reaches reminders of that guild
        await service.cancel(elsewhere.id, requester_id=1, guild_id=10, can_manage_guild=True)
    cancelled = await service.cancel(other.id, requester_id=1, guild_id=10, can_manage_guild=True)
    assert cancelled.state == "cancelled"
    with pytest.raises(ReminderNotFound, match="no longer pending \\(it was cancelled\\)"):
        await service.cancel(mine.id, requester_id=1)
    with pytest.raises(ReminderNotFound):
        await service.cancel(12_345, requester_id=1)


async def test_timezones(service: ReminderService) -> None:
    assert (await service.timezone_of(5)).key == "Europe/Berlin"
    assert (await service.set_timezone(5, " Asia/Kolkata ")).key == "Asia/Kolkata"
    assert (await service.timezone_of(5)).key == "Asia/Kolkata"
    with pytest.raises(UnknownTimezone) as caught:
        await service.set_timezone(5, "Europe/Berlinn")
    assert "Did you mean Europe/Berlin" in str(caught.value)
    with pytest.raises(UnknownTimezone, match="not a time zone"):
        await service.set_timezone(5, "localtime")
    assert (await service.timezone_of(5)).key == "Asia/Kolkata"


def test_timezone_autocomplete(service: ReminderService) -> None:
    assert service.timezone_choices("berl")[0] == "Europe/Berlin"
    assert "America/New_York" in service.timezone_choices("new york")
    assert service.timezone_choices("york")[0] == "America/New_York"  # the city part matches first
    assert len(service.timezone_choices("")) == 25
    assert len(service.timezone_choices("america")) == 25
    assert service.timezone_choices("no such place") == []


def test_settings_configure_the_service(db: Database) -> None:
    """Settings only: one backend is enough."""
    settings = load_settings({"REMINDER_DEFAULT_TZ": "America/New_York", "REMINDER_MAX_HORIZON_DAYS": "7",
                              "REMINDER_MIN_INTERVAL": "60", "REMINDER_MAX_PER_USER": "4",
                              "REMINDER_MAX_ATTEMPTS": "2", "REMINDER_HISTORY_DAYS": "3"}, require_token=False)
    service = ReminderService.from_settings(SqliteReminderStore(db), settings)
    assert (service.default_tz, service.max_horizon, service.min_interval, service.max_per_user,
            service.max_attempts, service.history_days) == ("America/New_York", 7 * 86_400, 60, 4, 2, 3)


async def test_finished_reminders_are_kept_history_days_then_pruned(store: ReminderStore, clock: FakeClock) -> None:
    service = ReminderService(store, default_tz="Europe/Berlin", history_days=2, clock=clock)
    done = await create(service, "in 1 hour")
    await service.cancel(done.id, requester_id=1)
    waiting = await create(service, "in 10 days")
    await clock.advance(2 * 86_400 - 1)
    assert await service.prune_finished() == 0
    await clock.advance(2)
    assert await service.prune_finished() == 1
    assert await service.store.get(done.id) is None
    assert (await service.store.get(waiting.id)).state == "pending"


async def test_created_and_cancelled_reminders_reach_the_running_scheduler(
        service: ReminderService, clock: FakeClock, recorder: Recorder) -> None:
    scheduler = service.start(recorder)
    with pytest.raises(RuntimeError, match="already running"):
        service.start(recorder)
    await asyncio.wait_for(scheduler.wait_idle(), WAIT)
    later = await create(service, "in 50 minutes")
    sooner = await create(service, "in 10 minutes")
    await asyncio.wait_for(scheduler.wait_idle(), WAIT)
    assert scheduler.next_due_at == sooner.due_at
    await service.cancel(sooner.id, requester_id=1)
    await asyncio.wait_for(scheduler.wait_idle(), WAIT)
    assert scheduler.next_due_at == later.due_at
    await clock.advance(50 * 60)
    await asyncio.wait_for(scheduler.wait_idle(), WAIT)
    assert recorder.ids() == [later.id]
    assert service.stats().delivered == 1
    await service.stop()
    assert service.scheduler is None and service.stats() is None
