"""Reads the `when` of /remind with a small, strict grammar instead of a guessing NLP library.

Accepted (case-insensitive; times are in the user's zone):
- relative: "in 10 minutes", "in 2h30m", "in 90s", "in an hour", "in 1 hour and 30 minutes",
  "10 minutes from now", "in 1 day", "in 2 weeks", "in 1 month", "in 3 days at 5pm".
  Seconds, minutes and hours are exact; days, weeks, months and years keep the wall-clock time
  (Jan 31 + 1 month = Feb 28, or 29 in a leap year).
- a time of day: "at 5pm", "17:00", "9:30am", "noon", "midnight": the next one (today or tomorrow).
- a day, with an optional time (09:00 when none is given): "today 18:00", "tomorrow", "tomorrow 9am",
  "9am tomorrow", "friday 17:00", "on friday at noon", "next friday", "2026-12-24 18:00",
  "2026-12-24", "24.12.2026 18:00", "24 december", "dec 24 6pm", "feb 29" (the next Feb 29).
  "friday" is the coming Friday, today if the time is still ahead; "next friday" is never today.
- recurring: "every day at 9am", "daily", "every monday 8:30", "every mon, wed and fri at 9",
  "every weekday at 8", "every weekend", "every 2 hours", "every 30 minutes", "hourly",
  "every 2 days at 7pm", "every other week", "every 2 weeks on friday", "every month on the 31st",
  "every year". The first occurrence is the soonest one after now; see recurrence.py for DST.
Refused with a message that says why and gives examples: negative or zero durations, impossible
dates (2026-13-01, Feb 30) and times (25:00, 13pm), day/month order ambiguity (12/11), leftovers.
Times in the past are returned as they are; the service refuses them.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from services.reminders.errors import ParseError
from services.reminders.recurrence import Daily, Interval, Monthly, Recurrence, Weekly, add_months, localize
from services.reminders.timewords import (
    CALENDAR_UNITS,
    MONTHS,
    RECURRENCE_ALIASES,
    SEPARATORS,
    UNIT_SECONDS,
    UNITS,
    WEEKDAYS,
    Token,
    normalize,
    tokenize,
)

DEFAULT_TIME = time(9, 0)
MAX_INPUT_CHARS = 100


@dataclass(frozen=True)
class ParsedTime:
    first_due: datetime  # aware, UTC
    recurrence: Recurrence | None = None


def parse_time(text: str, now: datetime, tz: ZoneInfo) -> ParsedTime:
    """Parse `text` relative to `now` (aware) in zone `tz`; raise ParseError with a user-facing message."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    return _Parser(text, now, tz).parse()


def examples(now_local: datetime) -> str:
    return (f"Examples that work: “in 10 minutes”, “tomorrow 9am”, “friday 17:00”, "
            f"“{now_local.year + 1}-12-24 18:00”, “every monday 8:30”, “every 2 hours”.")


@dataclass(frozen=True)
class _Fixed:
    day: date


@dataclass(frozen=True)
class _Weekday:
    weekday: int
    strict: bool  # "next friday": never today


@dataclass(frozen=True)
class _MonthDay:
    month: int
    day: int


_DateSpec = _Fixed | _Weekday | _MonthDay


class _Parser:
    def __init__(self, text: str, now: datetime, tz: ZoneInfo) -> None:
        self.text = text.strip()
        self.tz = tz
        # Whole seconds, rounded up: "in 3 seconds" must never come due before 3 full seconds have passed.
        exact = now.astimezone(UTC)
        self.now = exact.replace(microsecond=0) + (timedelta(seconds=1) if exact.microsecond else timedelta(0))
        self.local = self.now.astimezone(tz)
        self.today = self.local.date()
        self.tokens: list[Token] = []
        self.pos = 0

    # --- helpers -----------------------------------------------------------------------------

    def error(self, detail: str) -> ParseError:
        return ParseError(f"{detail} {examples(self.local)}")

    def peek(self, ahead: int = 0) -> Token | None:
        index = self.pos + ahead
        return self.tokens[index] if index < len(self.tokens) else None

    def peek_word(self, ahead: int = 0) -> str | None:
        token = self.peek(ahead)
        return token.text if token is not None and token.kind == "word" else None

    def take_word(self, *words: str) -> str | None:
        word = self.peek_word()
        if word is not None and word in words:
            self.pos += 1
            return word
        return None

    def skip_separators(self) -> None:
        while (token := self.peek()) is not None and token.text in SEPARATORS:
            self.pos += 1

    def rest(self) -> str:
        return " ".join(t.text for t in self.tokens[self.pos:])

    # --- entry -------------------------------------------------------------------------------

    def parse(self) -> ParsedTime:
        if not self.text:
            raise self.error("Tell me when to remind you.")
        if len(self.text) > MAX_INPUT_CHARS:
            raise self.error(f"That time is too long to read (over {MAX_INPUT_CHARS} characters).")
        self.tokens = tokenize(normalize(self.text))
        self.check_tokens()
        try:
            result = self.expression()
        except (OverflowError, ValueError, OSError):  # past year 9999; OSError: fromtimestamp of a huge interval
            raise self.error("That is too far in the future.") from None
        if self.pos < len(self.tokens):
            raise self.error(f"I don't understand “{self.rest()}” in “{self.text}”.")
        return result

    def check_tokens(self) -> None:
        for index, token in enumerate(self.tokens):
            if token.kind == "slashed":
                raise self.error(f"“{token.text}” could be day/month or month/day; write the date as "
                                 f"{self.today.year}-12-24 or 24.12.{self.today.year} instead.")
            if token.kind == "minus":
                following = self.tokens[index + 1] if index + 1 < len(self.tokens) else None
                if following is not None and following.kind == "number":
                    raise self.error("A time can't be negative: reminders only go forward.")
            if token.kind in ("minus", "other"):
                raise self.error(f"I don't understand “{token.text}” in “{self.text}”.")
        if self.tokens == [Token("word", "yesterday")]:
            raise self.error("Yesterday is in the past; reminders only go forward.")

    def expression(self) -> ParsedTime:
        if self.take_word("every", "each"):
            return self.recurring(self.count_or_none())
        alias = self.peek_word()
        if alias in RECURRENCE_ALIASES:
            self.pos += 1
            return self.recurring_unit(1, RECURRENCE_ALIASES[alias])
        if self.take_word("in") or self.starts_duration():
            return self.relative()
        return self.point()

    # --- relative ----------------------------------------------------------------------------

    def starts_duration(self) -> bool:
        token = self.peek()
        if token is None:
            return False
        if token.kind == "number" or token.text in ("a", "an"):
            return self.peek_word(1) in UNITS
        return False

    def duration(self) -> list[tuple[float, str]]:
        parts: list[tuple[float, str]] = []
        while (token := self.peek()) is not None:
            if token.kind == "number":
                amount = float(token.text)
            elif token.text in ("a", "an") and self.peek_word(1) in UNITS:
                amount = 1.0
            else:
                break
            unit = self.peek_word(1)
            if unit not in UNITS:
                raise self.error(f"“{token.text}” needs a unit, like “{token.text} minutes” or “{token.text} hours”.")
            parts.append((amount, UNITS[unit]))
            self.pos += 2
            self.skip_separators()
        if not parts:
            raise self.error(f"I don't understand “{self.rest() or self.text}” as a duration.")
        return parts

    def relative(self) -> ParsedTime:
        parts = self.duration()
        if self.take_word("from"):
            if not self.take_word("now"):
                raise self.error("Did you mean “… from now”?")
        else:
            self.take_word("later")
        months = days = 0
        seconds = 0.0
        for amount, unit in parts:
            if unit in CALENDAR_UNITS:
                if amount != int(amount):
                    raise self.error(f"Use whole {unit}s, or a smaller unit (for example “in 36 hours”).")
                months += {"month": 1, "year": 12}.get(unit, 0) * int(amount)
                days += {"day": 1, "week": 7}.get(unit, 0) * int(amount)
            else:
                seconds += amount * UNIT_SECONDS[unit]
        if months == days == 0 and seconds == 0:
            raise self.error("That is right now; give a duration above zero.")
        at = self.time_of_day()
        if at is not None and seconds:
            raise self.error("A time of day only goes with whole days, weeks or months, like “in 2 days at 5pm”.")
        if months or days:
            day = add_months(self.today, months) + timedelta(days=days)
            base = localize(day, at or self.local.time(), self.tz)
        else:
            base = self.now
        return ParsedTime(base + timedelta(seconds=seconds))

    # --- a point in time -----------------------------------------------------------------------

    def point(self) -> ParsedTime:
        spec = self.date_spec()
        at = self.time_of_day()
        if spec is None and at is not None:
            spec = self.date_spec()  # "9am tomorrow"
        if spec is None and at is None:
            raise self.error(f"I couldn't read “{self.text}” as a time.")
        if spec is None:
            assert at is not None
            due = localize(self.today, at, self.tz)
            if due <= self.now:
                due = localize(self.today + timedelta(days=1), at, self.tz)
            return ParsedTime(due)
        return ParsedTime(self.resolve(spec, at or DEFAULT_TIME))

    def resolve(self, spec: _DateSpec, at: time) -> datetime:
        if isinstance(spec, _Fixed):
            return localize(spec.day, at, self.tz)
        if isinstance(spec, _Weekday):
            offset = (spec.weekday - self.today.weekday()) % 7
            if offset == 0 and spec.strict:
                offset = 7
            due = localize(self.today + timedelta(days=offset), at, self.tz)
            return due if due > self.now else localize(self.today + timedelta(days=offset + 7), at, self.tz)
        for year in range(self.today.year, self.today.year + 9):  # Feb 29 comes within 8 years
            if spec.day <= calendar.monthrange(year, spec.month)[1]:
                due = localize(date(year, spec.month, spec.day), at, self.tz)
                if due > self.now:
                    return due
        raise AssertionError("unreachable: every valid month/day recurs within 8 years")

    def date_spec(self) -> _DateSpec | None:
        start = self.pos
        self.take_word("on")
        spec = self.date_word() or self.numeric_date() or self.month_date()
        if spec is None:
            self.pos = start
        return spec

    def date_word(self) -> _DateSpec | None:
        word = self.peek_word()
        fixed = {"today": 0, "tomorrow": 1, "tmrw": 1, "tmr": 1, "yesterday": -1}
        if word in fixed:
            self.pos += 1
            return _Fixed(self.today + timedelta(days=fixed[word]))
        strict = word == "next"
        if word in ("next", "this") and self.peek_word(1) in WEEKDAYS:
            self.pos += 1
            word = self.peek_word()
        if word in WEEKDAYS:
            self.pos += 1
            return _Weekday(WEEKDAYS[word], strict)
        return None

    def numeric_date(self) -> _DateSpec | None:
        token = self.peek()
        if token is None or token.kind not in ("iso", "dotted"):
            return None
        self.pos += 1
        if token.kind == "iso":
            year, month, day = (int(p) for p in token.text.split("-"))
        else:
            day, month, year = (int(p) for p in token.text.split("."))
            year += 2000 if year < 100 else 0
        return _Fixed(self.make_date(year, month, day, token.text))

    def month_date(self) -> _DateSpec | None:
        start = self.pos
        self.take_word("the")
        day = self.day_number()
        if day is not None:  # "24 december", "the 24th of december"
            self.take_word("of")
            month = MONTHS.get(self.peek_word() or "")
            self.pos += month is not None
        else:  # "december 24", "dec 24th"
            month = MONTHS.get(self.peek_word() or "")
            if month is not None:
                self.pos += 1
                self.take_word("the")
                day = self.day_number()
        if day is None or month is None:
            self.pos = start
            return None
        text = f"{calendar.month_name[month]} {day}"
        token = self.peek()
        ahead = 1 if token is not None and token.text == "," else 0  # "dec 24, 2026"
        year = self.peek(ahead)
        if year is not None and year.kind == "number" and len(year.text) == 4:
            self.pos += ahead + 1
            return _Fixed(self.make_date(int(year.text), month, day, f"{text} {year.text}"))
        if day > (29 if month == 2 else calendar.monthrange(2001, month)[1]):
            raise self.error(f"“{text}” is not a date: {calendar.month_name[month]} has fewer days.")
        return _MonthDay(month, day)

    def day_number(self) -> int | None:
        token = self.peek()
        if token is None or token.kind not in ("number", "ordinal"):
            return None
        digits = token.text.rstrip("stndrh")
        if not digits.isdigit() or not 1 <= int(digits) <= 31:
            return None
        self.pos += 1
        return int(digits)

    def make_date(self, year: int, month: int, day: int, text: str) -> date:
        if not 1 <= month <= 12:
            raise self.error(f"“{text}” is not a date: there is no month {month}.")
        if not 1 <= year <= 9999:
            raise self.error(f"“{text}” is not a date I can use.")
        last = calendar.monthrange(year, month)[1]
        if not 1 <= day <= last:
            raise self.error(f"“{text}” is not a date: {calendar.month_name[month]} {year} has {last} days.")
        return date(year, month, day)

    # --- time of day -------------------------------------------------------------------------

    def time_of_day(self) -> time | None:
        start = self.pos
        had_at = self.take_word("at", "@") is not None
        token = self.peek()
        word = self.peek_word()
        if word in ("noon", "midday", "midnight"):
            self.pos += 1
            return time(0) if word == "midnight" else time(12)
        if token is not None and token.kind == "clock":
            self.pos += 1
            hour, minute, *second = (int(p) for p in token.text.split(":"))
            return self.make_time(hour, minute, second[0] if second else 0, self.take_word("am", "pm"), token.text)
        if token is not None and token.kind == "number" and token.text.isdigit():
            meridiem = self.peek_word(1)
            if meridiem in ("am", "pm"):
                self.pos += 2
                return self.make_time(int(token.text), 0, 0, meridiem, token.text)
            if had_at or meridiem in ("o'clock", "oclock"):
                self.pos += 1
                self.take_word("o'clock", "oclock")
                return self.make_time(int(token.text), 0, 0, None, token.text)
        if had_at:
            raise self.error("“at” should be followed by a time, like “at 5pm” or “at 17:30”.")
        self.pos = start
        return None

    def make_time(self, hour: int, minute: int, second: int, meridiem: str | None, text: str) -> time:
        if meridiem is not None:
            if not 1 <= hour <= 12:
                raise self.error(f"“{text}{meridiem}” is not a time: with am/pm the hour goes from 1 to 12 "
                                 "(or write 13:00).")
            hour = hour % 12 + (12 if meridiem == "pm" else 0)
        elif not 0 <= hour <= 23:
            raise self.error(f"“{text}” is not a time of day: hours go from 0 to 23.")
        if not 0 <= minute <= 59 or not 0 <= second <= 59:
            raise self.error(f"“{text}” is not a time of day: minutes go from 0 to 59.")
        return time(hour, minute, second)

    # --- recurring ---------------------------------------------------------------------------

    def count_or_none(self) -> float | None:
        token = self.peek()
        if self.take_word("other"):
            return 2
        if token is not None and token.kind == "number":
            self.pos += 1
            count = float(token.text)
            if count <= 0:
                raise self.error(f"“every {token.text} …” never happens; the number must be at least 1.")
            return count
        return None

    def recurring(self, count: float | None) -> ParsedTime:
        unit = UNITS.get(self.peek_word() or "")
        if unit is not None:
            self.pos += 1
            return self.recurring_unit(count or 1, unit)
        days = self.weekday_list()
        if days:
            if count is not None:
                raise self.error("To repeat every few weeks on a day, say “every 2 weeks on monday”.")
            at = self.time_of_day() or DEFAULT_TIME
            rule = Weekly(days, at)
            return ParsedTime(rule.next_after(self.now, self.tz), rule)
        raise self.error("After “every”, say how often: “every day at 9am”, “every monday 8:30”, "
                         "“every 2 hours”.")

    def recurring_unit(self, count: float, unit: str) -> ParsedTime:
        if unit in UNIT_SECONDS:
            if self.time_of_day() is not None:
                raise self.error("A repeat every few hours or minutes can't also have a time of day; "
                                 "try “every day at 9am”.")
            seconds = count * UNIT_SECONDS[unit]
            rule: Recurrence = Interval(seconds, self.now.timestamp() + seconds)
            return ParsedTime(rule.next_after(self.now, self.tz), rule)
        if count != int(count):
            raise self.error(f"Use a whole number of {unit}s, like “every 2 {unit}s”.")
        every = int(count)
        at, on_days, on_day = None, (), None
        for _ in range(2):  # "on …" and "at …" in either order
            at = at or self.time_of_day()
            if self.take_word("on"):
                self.take_word("the")
                on_day = self.day_number() if unit in ("month", "year") else None
                on_days = () if on_day is not None else self.weekday_list()
                if on_day is None and not on_days:
                    raise self.error("After “on”, name a day: “every week on friday”, “every month on the 15th”.")
        at = at or DEFAULT_TIME
        if unit in ("month", "year"):
            return self.monthly(every * (12 if unit == "year" else 1), on_day or self.today.day, at)
        step = every * (7 if unit == "week" else 1)
        if on_days:
            if unit == "day":
                raise self.error("Say “every monday” or “every week on monday”, not “every day on monday”.")
            if every == 1:
                weekly = Weekly(on_days, at)
                return ParsedTime(weekly.next_after(self.now, self.tz), weekly)
            if len(on_days) > 1:
                raise self.error("Every few weeks works on one day only, like “every 2 weeks on friday”.")
        first = self.today
        while (on_days and first.weekday() != on_days[0]) or localize(first, at, self.tz) <= self.now:
            first += timedelta(days=1)
        daily = Daily(step, at, first)
        return ParsedTime(daily.next_after(self.now, self.tz), daily)

    def monthly(self, every: int, day: int, at: time) -> ParsedTime:
        rule = Monthly(every, day, at, self.today.replace(day=1))  # this month if still ahead
        return ParsedTime(rule.next_after(self.now, self.tz), rule)

    def weekday_list(self) -> tuple[int, ...]:
        days: list[int] = []
        while (word := self.peek_word()) is not None:
            if word in WEEKDAYS:
                days.append(WEEKDAYS[word])
            elif word in ("weekday", "weekdays"):
                days.extend(range(5))
            elif word in ("weekend", "weekends"):
                days.extend((5, 6))
            else:
                break
            self.pos += 1
            self.skip_separators()
        return tuple(sorted(set(days)))
