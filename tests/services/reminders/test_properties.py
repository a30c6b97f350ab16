"""Properties over many generated inputs: rules never skip or repeat, the parser never crashes."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from services.reminders import ParseError, parse_time
from services.reminders.recurrence import Daily, Monthly, Recurrence, Weekly, localize

ZONES = [ZoneInfo(z) for z in ("Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata", "UTC")]

instants = st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2030, 12, 31)).map(
    lambda d: d.replace(tzinfo=UTC))
clock_times = st.times().map(lambda t: t.replace(microsecond=0))
anchors = st.dates(min_value=date(2025, 1, 1), max_value=date(2030, 12, 1))

rules: st.SearchStrategy[Recurrence] = st.one_of(
    st.builds(Daily, st.integers(1, 30), clock_times, anchors),
    st.builds(Weekly, st.sets(st.integers(0, 6), min_size=1).map(lambda s: tuple(sorted(s))), clock_times),
    st.builds(Monthly, st.sampled_from([1, 2, 3, 12]), st.integers(1, 31), clock_times,
              anchors.map(lambda d: d.replace(day=1))),
)


@settings(max_examples=300, deadline=None)
@given(rule=rules, after=instants, zone=st.sampled_from(ZONES))
def test_next_after_is_later_on_the_rule_and_skips_nothing(rule: Recurrence, after: datetime, zone: ZoneInfo) -> None:
    nxt = rule.next_after(after, zone)
    assert nxt > after
    local_day = nxt.astimezone(zone).date()
    # On the rule: the wall-clock time of its local day (or that time moved out of a DST gap).
    assert any(localize(local_day + timedelta(days=d), rule.at, zone) == nxt for d in (-1, 0))
    # Nothing skipped: asking from any point before it gives the same answer.
    halfway = after + (nxt - after) / 2
    assert rule.next_after(halfway, zone) == nxt
    assert rule.next_after(nxt - timedelta(seconds=1), zone) == nxt
    # And it moves on: the following occurrence is strictly later.
    assert rule.next_after(nxt, zone) > nxt


WORDS = ["in", "at", "every", "on", "the", "of", "next", "tomorrow", "today", "monday", "fri", "weekday",
         "day", "days", "week", "month", "year", "hours", "h", "m", "min", "s", "am", "pm", "noon", "midnight",
         "and", ",", "other", "dec", "february", "from", "now", "a", "an", "-", "/", ":", ".", "2026-02-29",
         "29.02.2028", "12/11", "9", "17:30", "25:61", "0", "1.5", "31st", "2nd", "99999999999", "daily", "hourly"]


@settings(max_examples=500, deadline=None)
@given(words=st.lists(st.sampled_from(WORDS), max_size=7), zone=st.sampled_from(ZONES), now=instants)
def test_the_parser_answers_or_refuses_never_crashes(words: list[str], zone: ZoneInfo, now: datetime) -> None:
    text = " ".join(words)
    try:
        parsed = parse_time(text, now, zone)
    except ParseError as error:
        assert "Examples that work" in str(error)
        return
    assert parsed.first_due.utcoffset() == timedelta(0)
    if parsed.recurrence is not None:
        assert parsed.first_due > now.replace(microsecond=0)


@given(text=st.text(max_size=40), now=instants)
@settings(max_examples=300, deadline=None)
def test_arbitrary_text_never_crashes(text: str, now: datetime) -> None:
    try:
        parse_time(text, now, ZONES[0])
    except ParseError:
        pass


def test_localize_with_the_zone_that_has_a_half_hour_shift() -> None:
    # Lord Howe moves by 30 minutes: 02:15 on 2026-10-04 does not exist, and is moved on by the gap.
    lord_howe = ZONES[2]
    moved = localize(date(2026, 10, 4), time(2, 15), lord_howe).astimezone(lord_howe)
    assert moved.isoformat() == "2026-10-04T02:45:00+11:00"
