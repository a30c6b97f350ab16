"""The time grammar against a fixed clock and zone: one table of what works, one of what is refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from services.reminders import ParseError, parse_time
from services.reminders.recurrence import Daily, Interval, Monthly, Weekly
from tests.services.reminders.conftest import BERLIN, FIXED_NOW, NEW_YORK

# FIXED_NOW is Wednesday 2026-03-25 10:15 CET. Expected values are local ISO times with offsets,
# so each row also checks the UTC instant.
ONE_OFF = [
    ("in 10 minutes", "2026-03-25T10:25:00+01:00"),
    ("in 2h30m", "2026-03-25T12:45:00+01:00"),
    ("In 2H 30M", "2026-03-25T12:45:00+01:00"),
    ("in 90s", "2026-03-25T10:16:30+01:00"),
    ("in 1.5 hours", "2026-03-25T11:45:00+01:00"),
    ("in an hour", "2026-03-25T11:15:00+01:00"),
    ("in ten minutes", "2026-03-25T10:25:00+01:00"),  # numbers as spoken (voice turns, models)
    ("in twenty-five minutes", "2026-03-25T10:40:00+01:00"),
    ("in twenty five minutes", "2026-03-25T10:40:00+01:00"),
    ("in half an hour", "2026-03-25T10:45:00+01:00"),
    ("in two hours and thirty minutes", "2026-03-25T12:45:00+01:00"),
    ("tomorrow at nine", "2026-03-26T09:00:00+01:00"),
    ("in 1 hour and 30 minutes", "2026-03-25T11:45:00+01:00"),
    ("in 1 hour, 5 minutes", "2026-03-25T11:20:00+01:00"),
    ("10 minutes from now", "2026-03-25T10:25:00+01:00"),
    ("45 min", "2026-03-25T11:00:00+01:00"),
    ("in 1 day", "2026-03-26T10:15:00+01:00"),
    ("in 2 weeks", "2026-04-08T10:15:00+02:00"),  # calendar days keep the wall clock across DST
    ("in 336 hours", "2026-04-08T11:15:00+02:00"),  # hours are exact: one more on the clock
    ("in 3 days at 5pm", "2026-03-28T17:00:00+01:00"),
    ("tomorrow", "2026-03-26T09:00:00+01:00"),
    ("tomorrow 9am", "2026-03-26T09:00:00+01:00"),
    ("9am tomorrow", "2026-03-26T09:00:00+01:00"),
    ("tomorrow at 18:30", "2026-03-26T18:30:00+01:00"),
    ("tomorrow noon", "2026-03-26T12:00:00+01:00"),
    ("today 5:30 p.m.", "2026-03-25T17:30:00+01:00"),
    ("today 5p.m.", "2026-03-25T17:00:00+01:00"),
    ("at 5pm", "2026-03-25T17:00:00+01:00"),
    ("5 pm", "2026-03-25T17:00:00+01:00"),
    ("17:00", "2026-03-25T17:00:00+01:00"),
    ("at 9", "2026-03-26T09:00:00+01:00"),  # 09:00 has passed today: tomorrow
    ("10:15", "2026-03-26T10:15:00+01:00"),  # exactly now is not ahead
    ("noon", "2026-03-25T12:00:00+01:00"),
    ("midnight", "2026-03-26T00:00:00+01:00"),
    ("12am", "2026-03-26T00:00:00+01:00"),
    ("12pm", "2026-03-25T12:00:00+01:00"),
    ("friday 17:00", "2026-03-27T17:00:00+01:00"),
    ("on friday at noon", "2026-03-27T12:00:00+01:00"),
    ("fri", "2026-03-27T09:00:00+01:00"),
    ("next friday", "2026-03-27T09:00:00+01:00"),
    ("wednesday 11am", "2026-03-25T11:00:00+01:00"),  # today, still ahead
    ("wednesday 9am", "2026-04-01T09:00:00+02:00"),  # today but past: next week
    ("next wednesday 11am", "2026-04-01T11:00:00+02:00"),  # "next" is never today
    ("2026-12-24 18:00", "2026-12-24T18:00:00+01:00"),
    ("2026-12-24T18:00", "2026-12-24T18:00:00+01:00"),
    ("2026-12-24", "2026-12-24T09:00:00+01:00"),
    ("24.12.2026 18:00", "2026-12-24T18:00:00+01:00"),
    ("24.12.26", "2026-12-24T09:00:00+01:00"),
    ("dec 24 6pm", "2026-12-24T18:00:00+01:00"),
    ("24 december", "2026-12-24T09:00:00+01:00"),
    ("the 24th of december 2027", "2027-12-24T09:00:00+01:00"),
    ("December 24, 2027 at 7:45", "2027-12-24T07:45:00+01:00"),
    ("march 1", "2027-03-01T09:00:00+01:00"),  # already past this year
    ("feb 29", "2028-02-29T09:00:00+01:00"),  # the next leap day
    ("2028-02-29 12:00", "2028-02-29T12:00:00+01:00"),
    # Spring forward in Berlin (2026-03-29 02:00 -> 03:00): 02:30 does not exist, moved on by the gap.
    ("2026-03-29 02:30", "2026-03-29T03:30:00+02:00"),
    # Fall back in Berlin (2026-10-25 03:00 -> 02:00): 02:30 happens twice; the first one is used.
    ("2026-10-25 02:30", "2026-10-25T02:30:00+02:00"),
]


@pytest.mark.parametrize(("text", "expected"), ONE_OFF)
def test_one_off_times(text: str, expected: str) -> None:
    parsed = parse_time(text, FIXED_NOW, BERLIN)
    assert parsed.recurrence is None
    assert parsed.first_due.tzinfo is UTC
    assert parsed.first_due.astimezone(BERLIN).isoformat() == expected


@pytest.mark.parametrize(("text", "now", "zone", "expected"), [
    # New York springs forward 2026-03-08 02:00 -> 03:00 and falls back 2026-11-01 02:00 -> 01:00.
    ("2026-03-08 02:30", "2026-03-01T12:00", NEW_YORK, "2026-03-08T03:30:00-04:00"),
    ("2026-11-01 01:30", "2026-10-20T12:00", NEW_YORK, "2026-11-01T01:30:00-04:00"),
    ("in 1 day", "2026-03-07T10:00", NEW_YORK, "2026-03-08T10:00:00-04:00"),  # 23 real hours
    ("in 24 hours", "2026-03-07T10:00", NEW_YORK, "2026-03-08T11:00:00-04:00"),
    ("in 1 day", "2026-03-28T10:00", BERLIN, "2026-03-29T10:00:00+02:00"),
    ("in 1 hour", "2026-10-25T02:30", BERLIN, "2026-10-25T02:30:00+01:00"),  # into the repeated hour
    # Month ends and leap days: months are clamped to the last day.
    ("in 1 month", "2026-01-31T10:00", BERLIN, "2026-02-28T10:00:00+01:00"),
    ("in 1 month", "2028-01-31T10:00", BERLIN, "2028-02-29T10:00:00+01:00"),
    ("in 1 month", "2026-03-31T10:00", BERLIN, "2026-04-30T10:00:00+02:00"),
    ("in 1 year", "2028-02-29T10:00", BERLIN, "2029-02-28T10:00:00+01:00"),
    ("tomorrow", "2026-12-31T20:00", BERLIN, "2027-01-01T09:00:00+01:00"),
    ("tomorrow", "2028-02-28T20:00", BERLIN, "2028-02-29T09:00:00+01:00"),
    ("feb 29", "2028-02-29T08:00", BERLIN, "2028-02-29T09:00:00+01:00"),
    ("feb 29", "2028-02-29T10:00", BERLIN, "2032-02-29T09:00:00+01:00"),
    ("tomorrow 9am", "2026-06-01T12:00", ZoneInfo("UTC"), "2026-06-02T09:00:00+00:00"),
    ("tomorrow 9am", "2026-06-01T12:00", ZoneInfo("Asia/Kolkata"), "2026-06-02T09:00:00+05:30"),
])
def test_dst_month_ends_and_zones(text: str, now: str, zone: ZoneInfo, expected: str) -> None:
    fixed_now = datetime.fromisoformat(now).replace(tzinfo=zone)
    assert parse_time(text, fixed_now, zone).first_due.astimezone(zone).isoformat() == expected


RECURRING = [
    ("every day at 9am", "2026-03-26T09:00:00+01:00", Daily, "every day at 09:00"),
    ("daily", "2026-03-26T09:00:00+01:00", Daily, "every day at 09:00"),
    ("daily at 7pm", "2026-03-25T19:00:00+01:00", Daily, "every day at 19:00"),
    ("every monday 8:30", "2026-03-30T08:30:00+02:00", Weekly, "every Monday at 08:30"),
    ("every monday at eight", "2026-03-30T08:00:00+02:00", Weekly, "every Monday at 08:00"),
    ("every monday at 8:30am", "2026-03-30T08:30:00+02:00", Weekly, "every Monday at 08:30"),
    ("every mon, wed and fri at 9", "2026-03-27T09:00:00+01:00", Weekly,
     "every Monday, Wednesday and Friday at 09:00"),
    ("every weekday at 8", "2026-03-26T08:00:00+01:00", Weekly, "every weekday at 08:00"),
    ("every weekend", "2026-03-28T09:00:00+01:00", Weekly, "every Saturday and Sunday at 09:00"),
    ("every 2 hours", "2026-03-25T12:15:00+01:00", Interval, "every 2 hours"),
    ("hourly", "2026-03-25T11:15:00+01:00", Interval, "every hour"),
    ("every 30 minutes", "2026-03-25T10:45:00+01:00", Interval, "every 30 minutes"),
    ("every 2 days at 7pm", "2026-03-25T19:00:00+01:00", Daily, "every 2 days at 19:00"),
    ("every other week", "2026-03-26T09:00:00+01:00", Daily, "every 2 weeks on Thursday at 09:00"),
    ("every week on friday at 18:00", "2026-03-27T18:00:00+01:00", Weekly, "every Friday at 18:00"),
    ("every 2 weeks on friday", "2026-03-27T09:00:00+01:00", Daily, "every 2 weeks on Friday at 09:00"),
    ("every month on the 31st", "2026-03-31T09:00:00+02:00", Monthly,
     "every month on the 31st at 09:00 (or the month's last day)"),
    ("monthly at noon on the 1st", "2026-04-01T12:00:00+02:00", Monthly, "every month on the 1st at 12:00"),
    ("every year", "2027-03-25T09:00:00+01:00", Monthly, "every year on March 25 at 09:00"),
]


@pytest.mark.parametrize(("text", "first", "kind", "description"), RECURRING)
def test_recurring(text: str, first: str, kind: type, description: str) -> None:
    parsed = parse_time(text, FIXED_NOW, BERLIN)
    assert isinstance(parsed.recurrence, kind)
    assert parsed.first_due.astimezone(BERLIN).isoformat() == first
    assert parsed.recurrence.describe() == description
    # The first due time is the rule's own first occurrence, so the series never drifts.
    assert parsed.recurrence.next_after(FIXED_NOW, BERLIN) == parsed.first_due


def test_every_monday_keeps_local_time_across_both_dst_changes() -> None:
    rule = parse_time("every monday 8:30", FIXED_NOW, BERLIN).recurrence
    assert rule is not None
    seen, after = [], datetime(2026, 10, 12, tzinfo=BERLIN)
    for _ in range(3):
        after = rule.next_after(after, BERLIN)
        seen.append(after.astimezone(BERLIN).isoformat())
    assert seen == ["2026-10-12T08:30:00+02:00", "2026-10-19T08:30:00+02:00", "2026-10-26T08:30:00+01:00"]


REFUSED = [
    ("", "Tell me when"),
    ("   ", "Tell me when"),
    ("in -5 minutes", "can't be negative"),
    ("every 0 hours", "must be at least 1"),
    ("every zero hours", "must be at least 1"),
    ("in 20 5 minutes", "needs a unit"),  # digits never combine, only spoken tens and ones
    ("yesterday", "in the past"),
    ("2026-13-01", "there is no month 13"),
    ("2026-02-30", "February 2026 has 28 days"),
    ("2027-02-29", "February 2027 has 28 days"),
    ("feb 30", "February has fewer days"),
    ("31 april", "April has fewer days"),
    ("25:00", "hours go from 0 to 23"),
    ("tomorrow 12:60", "minutes go from 0 to 59"),
    ("13pm", "the hour goes from 1 to 12"),
    ("12/11", "could be day/month or month/day"),
    ("in 0 minutes", "above zero"),
    ("in 1.5 days", "Use whole days"),
    ("in 2 hours at 5pm", "only goes with whole days"),
    ("every 2 hours at 9am", "can't also have a time of day"),
    ("every day on monday", "every week on monday"),
    ("every", "say how often"),
    ("every 2 mondays", "every 2 weeks on monday"),
    ("in", "as a duration"),
    ("in 5", "needs a unit"),
    ("at", "should be followed by a time"),
    ("at noonish", "should be followed by a time"),
    ("tomorrow 9", "I don't understand “9”"),
    ("in 5 minutes ago", "I don't understand “ago”"),
    ("soon", "couldn't read “soon”"),
    ("remind me later", "couldn't read"),
    ("10 minutes from then", "from now"),
    ("in 10000 years", "too far in the future"),
    ("x" * 101, "too long"),
    ("tomorrow; drop table", "I don't understand “;”"),
    ("tonight", "couldn't read “tonight”"),
    ("next week", "couldn't read"),
]


@pytest.mark.parametrize(("text", "fragment"), REFUSED)
def test_refused_with_clear_message_and_examples(text: str, fragment: str) -> None:
    with pytest.raises(ParseError) as caught:
        parse_time(text, FIXED_NOW, BERLIN)
    message = str(caught.value)
    assert fragment in message
    # Every refusal ends with examples that work; the absolute one is always in the future.
    assert "Examples that work: “in 10 minutes”" in message
    assert "“2027-12-24 18:00”" in message


def test_examples_in_error_messages_parse() -> None:
    with pytest.raises(ParseError) as caught:
        parse_time("nonsense", FIXED_NOW, BERLIN)
    quoted = str(caught.value).split("Examples that work: ")[1].rstrip(".").split(", ")
    for example in quoted:
        parsed = parse_time(example.strip("“”"), FIXED_NOW, BERLIN)
        assert parsed.first_due > FIXED_NOW


def test_past_times_are_returned_for_the_service_to_refuse() -> None:
    assert parse_time("today 8am", FIXED_NOW, BERLIN).first_due < FIXED_NOW
    assert parse_time("2020-01-01", FIXED_NOW, BERLIN).first_due < FIXED_NOW


def test_naive_now_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        parse_time("in 5 minutes", datetime(2026, 1, 1), BERLIN)


@pytest.mark.parametrize("fraction", [0, 1, 400_000, 999_999])
def test_a_duration_never_comes_due_early(fraction: int) -> None:
    """"now" is rounded up to the second, never down: "in 3 seconds" is at least 3 seconds away."""
    now = FIXED_NOW.replace(microsecond=fraction)
    due = parse_time("in 3 seconds", now, BERLIN).first_due
    assert due - now >= timedelta(seconds=3)
    assert due - now < timedelta(seconds=4) and due.microsecond == 0
