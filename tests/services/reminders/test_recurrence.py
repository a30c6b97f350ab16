"""Occurrence sequences in a zone: wall-clock rules across DST, interval rules absolute, month ends."""

from __future__ import annotations

from datetime import UTC, date, datetime, time

import pytest

from services.reminders import format_duration, lateness_note
from services.reminders.recurrence import (
    Daily,
    Interval,
    Monthly,
    Recurrence,
    Weekly,
    add_months,
    from_spec,
    localize,
    to_spec,
)
from tests.services.reminders.conftest import BERLIN, NEW_YORK


def series(rule: Recurrence, start: datetime, count: int, zone=BERLIN) -> list[str]:
    out, after = [], start
    for _ in range(count):
        after = rule.next_after(after, zone)
        out.append(after.astimezone(zone).isoformat())
    return out


def test_daily_nine_stays_nine_across_spring_forward() -> None:
    rule = Daily(1, time(9), date(2026, 3, 1))
    got = series(rule, datetime(2026, 3, 27, 12, tzinfo=BERLIN), 3)
    assert got == ["2026-03-28T09:00:00+01:00", "2026-03-29T09:00:00+02:00", "2026-03-30T09:00:00+02:00"]
    utc = [datetime.fromisoformat(g).astimezone(UTC).hour for g in got]
    assert utc == [8, 7, 7]  # the instant moves, the wall clock does not


def test_daily_in_the_spring_gap_moves_forward_by_the_gap_only_that_day() -> None:
    rule = Daily(1, time(2, 30), date(2026, 3, 1))
    got = series(rule, datetime(2026, 3, 27, 12, tzinfo=BERLIN), 3)
    assert got == ["2026-03-28T02:30:00+01:00", "2026-03-29T03:30:00+02:00", "2026-03-30T02:30:00+02:00"]


def test_daily_in_the_repeated_hour_fires_once_on_the_first() -> None:
    rule = Daily(1, time(2, 30), date(2026, 10, 1))
    got = series(rule, datetime(2026, 10, 23, 12, tzinfo=BERLIN), 3)
    assert got == ["2026-10-24T02:30:00+02:00", "2026-10-25T02:30:00+02:00", "2026-10-26T02:30:00+01:00"]
    # Asking from the first 02:30 skips the second 02:30 of the same night.
    first = datetime.fromisoformat(got[1])
    assert rule.next_after(first, BERLIN).astimezone(BERLIN).isoformat() == got[2]


def test_new_york_repeated_hour_and_gap() -> None:
    rule = Daily(1, time(1, 30), date(2026, 10, 1))
    got = series(rule, datetime(2026, 10, 31, 12, tzinfo=NEW_YORK), 2, NEW_YORK)
    assert got == ["2026-11-01T01:30:00-04:00", "2026-11-02T01:30:00-05:00"]
    gap = Daily(1, time(2, 30), date(2026, 3, 1))
    assert series(gap, datetime(2026, 3, 7, 12, tzinfo=NEW_YORK), 2, NEW_YORK) == [
        "2026-03-08T03:30:00-04:00", "2026-03-09T02:30:00-04:00"]


def test_weekly_keeps_local_time_across_fall_back_in_new_york() -> None:
    rule = Weekly((0,), time(8, 30))
    got = series(rule, datetime(2026, 10, 20, tzinfo=NEW_YORK), 2, NEW_YORK)
    assert got == ["2026-10-26T08:30:00-04:00", "2026-11-02T08:30:00-05:00"]


def test_weekly_with_several_days() -> None:
    rule = Weekly((0, 2, 4), time(9))
    got = series(rule, datetime(2026, 3, 25, 10, tzinfo=BERLIN), 4)  # a Wednesday after 9:00
    assert [g[:10] for g in got] == ["2026-03-27", "2026-03-30", "2026-04-01", "2026-04-03"]
    assert rule.min_gap == 2 * 86_400
    assert Weekly((4,), time(9)).min_gap == 7 * 86_400
    assert Weekly((0, 6), time(9)).min_gap == 86_400


def test_interval_is_absolute_across_dst() -> None:
    anchor = datetime(2026, 3, 29, 0, 30, tzinfo=UTC).timestamp()  # 01:30 CET
    rule = Interval(3_600, anchor)
    got = series(rule, datetime(2026, 3, 29, 0, tzinfo=UTC), 3)
    assert got == ["2026-03-29T01:30:00+01:00", "2026-03-29T03:30:00+02:00", "2026-03-29T04:30:00+02:00"]


def test_interval_stays_on_its_grid_after_an_outage() -> None:
    rule = Interval(7_200, 1_000_000.0)
    after = datetime.fromtimestamp(1_000_000.0 + 7_200 * 5 + 1, UTC)
    assert rule.next_after(after, BERLIN).timestamp() == 1_000_000.0 + 7_200 * 6
    exactly = datetime.fromtimestamp(1_000_000.0 + 7_200 * 5, UTC)
    assert rule.next_after(exactly, BERLIN).timestamp() == 1_000_000.0 + 7_200 * 6


def test_every_two_days_counts_from_its_anchor() -> None:
    rule = Daily(2, time(19), date(2026, 3, 25))
    got = series(rule, datetime(2026, 3, 26, 20, tzinfo=BERLIN), 2)
    assert got == ["2026-03-27T19:00:00+01:00", "2026-03-29T19:00:00+02:00"]


def test_monthly_on_the_31st_uses_the_last_day_of_short_months() -> None:
    rule = Monthly(1, 31, time(9), date(2026, 1, 1))
    got = series(rule, datetime(2026, 1, 1, tzinfo=BERLIN), 5)
    assert [g[:10] for g in got] == ["2026-01-31", "2026-02-28", "2026-03-31", "2026-04-30", "2026-05-31"]
    leap = series(rule, datetime(2028, 2, 1, tzinfo=BERLIN), 2)
    assert [g[:10] for g in leap] == ["2028-02-29", "2028-03-31"]


def test_yearly_on_leap_day() -> None:
    rule = Monthly(12, 29, time(9), date(2028, 2, 1))
    got = series(rule, datetime(2028, 1, 1, tzinfo=BERLIN), 5)
    assert [g[:10] for g in got] == ["2028-02-29", "2029-02-28", "2030-02-28", "2031-02-28", "2032-02-29"]


def test_next_after_a_long_outage_returns_the_next_one_not_a_backlog() -> None:
    rule = Daily(1, time(9), date(2026, 1, 1))
    assert rule.next_after(datetime(2026, 6, 15, 12, tzinfo=BERLIN), BERLIN).astimezone(BERLIN).isoformat() == \
        "2026-06-16T09:00:00+02:00"
    monthly = Monthly(3, 15, time(9), date(2026, 1, 1))
    assert monthly.next_after(datetime(2027, 2, 1, tzinfo=BERLIN), BERLIN).date() == date(2027, 4, 15)


@pytest.mark.parametrize("rule", [
    Interval(5_400.0, 1_774_430_100.0),
    Daily(3, time(7, 45), date(2026, 3, 25)),
    Weekly((0, 2, 4), time(8, 30)),
    Monthly(1, 31, time(9), date(2026, 1, 1)),
])
def test_spec_round_trip(rule: Recurrence) -> None:
    assert from_spec(to_spec(rule)) == rule


def test_unknown_spec_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown recurrence kind"):
        from_spec('{"kind": "fortnightly"}')


def test_add_months_clamps() -> None:
    assert add_months(date(2026, 1, 31), 1) == date(2026, 2, 28)
    assert add_months(date(2026, 12, 15), 1) == date(2027, 1, 15)
    assert add_months(date(2026, 3, 31), -1) == date(2026, 2, 28)
    assert add_months(date(2026, 2, 1), 1, anchor_day=31) == date(2026, 3, 31)


def test_localize_resolves_gap_and_fold() -> None:
    assert localize(date(2026, 3, 29), time(2, 30), BERLIN).isoformat() == "2026-03-29T01:30:00+00:00"
    assert localize(date(2026, 10, 25), time(2, 30), BERLIN).isoformat() == "2026-10-25T00:30:00+00:00"


@pytest.mark.parametrize(("seconds", "text"), [
    (0, "0 seconds"), (1, "1 second"), (59.6, "1 minute"), (90, "1 minute 30 seconds"),
    (3_600, "1 hour"), (7_500, "2 hours 5 minutes"), (86_400 + 7_200, "1 day 2 hours"),
    (86_400 + 60, "1 day"),  # stops at the first gap
])
def test_format_duration(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


def test_lateness_note() -> None:
    assert lateness_note(5) is None
    note = lateness_note(2 * 3_600 + 300)
    assert note is not None and "2 hours 5 minutes late" in note
