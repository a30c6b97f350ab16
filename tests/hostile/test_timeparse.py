"""Time expressions beyond the word soup of tests/services/reminders/test_properties.py: generated
well-formed expressions, huge numbers, hostile characters; through the service, never a time in the past."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from services.reminders import ParseError, parse_time
from services.reminders.errors import ReminderError
from services.reminders.service import ReminderService
from services.storage import Database
from services.storage.sqlite.reminders import SqliteReminderStore
from tests.hostile.strategies import hostile_text

ZONES = [ZoneInfo(z) for z in ("UTC", "Pacific/Kiritimati", "Pacific/Pago_Pago", "Australia/Lord_Howe",
                               "America/Sao_Paulo", "Europe/London", "Asia/Kathmandu")]
instants = st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(9998, 12, 1)).map(
    lambda d: d.replace(tzinfo=UTC))
numbers = st.one_of(st.integers(0, 10**30).map(str), st.sampled_from(["0.5", "1.5", "1e9", "٣", "³", "0000001", "-1"]))
units = st.sampled_from(["s", "sec", "seconds", "m", "min", "minutes", "h", "hours", "d", "days", "w", "weeks",
                         "month", "months", "y", "years"])
clock = st.one_of(st.builds("{}:{:02d}".format, st.integers(0, 30), st.integers(0, 70)),
                  st.builds("{}{}".format, st.integers(0, 14), st.sampled_from(["am", "pm", " a.m.", "PM"])),
                  st.sampled_from(["noon", "midnight"]))
day = st.one_of(st.sampled_from(["today", "tomorrow", "friday", "next monday", "on sun", "24 december", "dec 24",
                                 "feb 29", "2026-02-29", "29.02.2028", "31.04.2027"]),
                st.builds("{}-{:02d}-{:02d}".format, st.integers(1, 9999), st.integers(0, 13), st.integers(0, 32)))
relative = st.builds("in {} {}".format, numbers, units)
time_of_day = st.builds("at {}".format, clock)
recurring = st.one_of(st.builds("every {} {}".format, numbers, units),
                      st.builds("every {} at {}".format, st.sampled_from(["day", "monday", "weekday", "weekend",
                                                                         "mon, wed and fri", "month on the 31st"]),
                                clock))
expressions = st.one_of(relative, time_of_day, recurring, st.builds("{} {}".format, day, clock), day,
                        hostile_text, st.builds("{}{}{}".format, hostile_text, relative, hostile_text))
# Forms that can only mean a moment after now.
FUTURE_ONLY = st.one_of(relative, time_of_day, recurring)


def _parse(text: str, now: datetime, zone: ZoneInfo):
    try:
        return parse_time(text, now, zone)
    except ParseError as error:
        assert "Examples that work" in str(error)
        return None


@settings(max_examples=500, deadline=None)
@given(text=expressions, now=instants, zone=st.sampled_from(ZONES))
@example(text="in 1000000000000000000000 years", now=datetime(2026, 1, 1, tzinfo=UTC), zone=ZONES[0])
@example(text="9999-12-31 23:59", now=datetime(9998, 12, 1, tzinfo=UTC), zone=ZONES[1])
@example(text="in \u0663 hours", now=datetime(2026, 1, 1, tzinfo=UTC), zone=ZONES[0])
@example(text="ﷺ" * 100, now=datetime(2026, 1, 1, tzinfo=UTC), zone=ZONES[0])
def test_any_expression_parses_or_is_refused(text: str, now: datetime, zone: ZoneInfo) -> None:
    parsed = _parse(text, now, zone)
    if parsed is not None:
        assert parsed.first_due.utcoffset() == timedelta(0)


@settings(max_examples=400, deadline=None)
@given(text=FUTURE_ONLY, now=instants, zone=st.sampled_from(ZONES))
@example(text="every 67768034603377601 s", now=datetime(2026, 1, 1, tzinfo=UTC), zone=ZONES[0])  # was OSError
def test_relative_clock_and_recurring_times_are_never_in_the_past(text: str, now: datetime, zone: ZoneInfo) -> None:
    parsed = _parse(text, now, zone)
    if parsed is not None:
        assert parsed.first_due > now.replace(microsecond=0), (text, parsed)


@pytest.fixture
async def service(tmp_path: Path) -> AsyncIterator[ReminderService]:
    db = await Database.open(tmp_path / "bot.db")
    try:
        clock = lambda: datetime(2026, 3, 29, 0, 30, tzinfo=UTC).timestamp()  # noqa: E731
        yield ReminderService(SqliteReminderStore(db, clock=clock), clock=clock)
    finally:
        await db.close()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=expressions, zone=st.sampled_from(ZONES))
def test_the_service_accepts_only_future_times_within_the_horizon(service: ReminderService, text: str,
                                                                  zone: ZoneInfo) -> None:
    now = datetime.fromtimestamp(service._clock(), UTC)
    try:
        parsed = service.parse(text, zone)
    except ReminderError as error:
        assert str(error)
        return
    assert now < parsed.first_due <= now + timedelta(seconds=service.max_horizon)
    if parsed.recurrence is not None:
        assert parsed.recurrence.min_gap >= service.min_interval
