"""Recurrence rules and the wall-clock arithmetic behind them.

Calendar rules ("every day at 9am", "every monday 8:30", "every month on the 31st") are computed in
the reminder's own zone from an anchor, never from the previous delivery, so 9:00 stays 9:00 local
across DST changes and a late or retried delivery never shifts the series. Interval rules ("every 2
hours") are absolute: a fixed number of seconds apart, whatever the zone does.

Local times that DST makes odd are resolved like PEP 495's fold=0 (and java.time):
- a time inside the spring-forward gap (02:30 in Berlin on 2026-03-29) is moved forward by the
  length of the gap (03:30 local, one hour after 01:30);
- a time that happens twice at fall-back (02:30 in Berlin on 2026-10-25) means the first one
  (summer time), so a daily reminder fires once, not twice.
A monthly rule on a day the month lacks (the 31st, Feb 29) fires on the month's last day.
"""

from __future__ import annotations

import calendar
import json
import math
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from services.reminders.humanize import format_duration

DAY = 86_400
WEEKDAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
# Bound the search for the next occurrence; every rule here repeats well within it.
_MAX_STEPS = 1_000


def localize(day: date, at: time, tz: ZoneInfo) -> datetime:
    """The UTC instant of a wall-clock time in `tz`, with gaps and folds resolved as documented above."""
    return datetime.combine(day, at.replace(fold=0), tzinfo=tz).astimezone(UTC)


def add_months(day: date, months: int, anchor_day: int | None = None) -> date:
    """`day` moved by whole months, clamped to the month's end (Jan 31 + 1 month = Feb 28 or 29)."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    wanted = anchor_day if anchor_day is not None else day.day
    return date(year, month + 1, min(wanted, calendar.monthrange(year, month + 1)[1]))


def _clock(at: time) -> str:
    return at.strftime("%H:%M:%S" if at.second else "%H:%M")


@dataclass(frozen=True)
class Interval:
    """Every `seconds`, on the grid anchor + k*seconds (UTC epoch seconds)."""

    seconds: float
    anchor: float

    def next_after(self, after: datetime, tz: ZoneInfo) -> datetime:
        k = max(0, math.floor((after.timestamp() - self.anchor) / self.seconds) + 1)
        while self.anchor + k * self.seconds <= after.timestamp():  # float rounding at exact multiples
            k += 1
        return datetime.fromtimestamp(self.anchor + k * self.seconds, UTC)

    @property
    def min_gap(self) -> float:
        return self.seconds

    def describe(self) -> str:
        text = format_duration(self.seconds, parts=3)
        return f"every {text.removeprefix('1 ') if text.count(' ') == 1 else text}"

    def to_dict(self) -> dict[str, object]:
        return {"kind": "interval", "seconds": self.seconds, "anchor": self.anchor}


@dataclass(frozen=True)
class Daily:
    """Every `every` days at `at` local time, counted from the local date `anchor`."""

    every: int
    at: time
    anchor: date

    def next_after(self, after: datetime, tz: ZoneInfo) -> datetime:
        today = after.astimezone(tz).date()
        k = max(0, -(-(today - self.anchor).days // self.every) - 1)  # one step early, then walk
        for _ in range(_MAX_STEPS):
            candidate = localize(self.anchor + timedelta(days=k * self.every), self.at, tz)
            if candidate > after:
                return candidate
            k += 1
        raise AssertionError("unreachable: a daily rule always has a later occurrence")

    @property
    def min_gap(self) -> float:
        return self.every * DAY

    def describe(self) -> str:
        if self.every == 1:
            return f"every day at {_clock(self.at)}"
        if self.every % 7 == 0:
            weeks = self.every // 7
            day = WEEKDAY_NAMES[self.anchor.weekday()]
            return f"every {'week' if weeks == 1 else f'{weeks} weeks'} on {day} at {_clock(self.at)}"
        return f"every {self.every} days at {_clock(self.at)}"

    def to_dict(self) -> dict[str, object]:
        return {"kind": "daily", "every": self.every, "at": self.at.isoformat(), "anchor": self.anchor.isoformat()}


@dataclass(frozen=True)
class Weekly:
    """On each of `days` (0 = Monday) at `at` local time."""

    days: tuple[int, ...]
    at: time

    def next_after(self, after: datetime, tz: ZoneInfo) -> datetime:
        today = after.astimezone(tz).date()
        for offset in range(15):
            day = today + timedelta(days=offset)
            if day.weekday() in self.days:
                candidate = localize(day, self.at, tz)
                if candidate > after:
                    return candidate
        raise AssertionError("unreachable: a weekly rule always has a later occurrence")

    @property
    def min_gap(self) -> float:
        days = sorted(self.days)
        gaps = [(b - a) % 7 or 7 for a, b in zip(days, [*days[1:], days[0]], strict=True)]
        return min(gaps) * DAY

    def describe(self) -> str:
        days = sorted(self.days)
        if days == [0, 1, 2, 3, 4]:
            names = "weekday"
        elif days == [5, 6]:
            names = "Saturday and Sunday"
        else:
            named = [WEEKDAY_NAMES[d] for d in days]
            names = named[0] if len(named) == 1 else ", ".join(named[:-1]) + " and " + named[-1]
        return f"every {names} at {_clock(self.at)}"

    def to_dict(self) -> dict[str, object]:
        return {"kind": "weekly", "days": list(self.days), "at": self.at.isoformat()}


@dataclass(frozen=True)
class Monthly:
    """Every `every` months on day `day` (clamped to the month's end) at `at`, from the anchor month."""

    every: int
    day: int
    at: time
    anchor: date  # first day of the anchor month

    def next_after(self, after: datetime, tz: ZoneInfo) -> datetime:
        local = after.astimezone(tz).date()
        months = (local.year - self.anchor.year) * 12 + local.month - self.anchor.month
        k = max(0, months // self.every - 1)
        for _ in range(_MAX_STEPS):
            candidate = localize(add_months(self.anchor, k * self.every, self.day), self.at, tz)
            if candidate > after:
                return candidate
            k += 1
        raise AssertionError("unreachable: a monthly rule always has a later occurrence")

    @property
    def min_gap(self) -> float:
        return self.every * 28 * DAY

    def describe(self) -> str:
        if self.every == 12:
            every = f"every year on {calendar.month_name[self.anchor.month]} {self.day}"
        else:
            every = "every month" if self.every == 1 else f"every {self.every} months"
            every += f" on the {ordinal(self.day)}"
        clamp = " (or the month's last day)" if self.day > 28 else ""
        return f"{every} at {_clock(self.at)}{clamp}"

    def to_dict(self) -> dict[str, object]:
        return {"kind": "monthly", "every": self.every, "day": self.day, "at": self.at.isoformat(),
                "anchor": self.anchor.isoformat()}


Recurrence = Interval | Daily | Weekly | Monthly


def ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def to_spec(rule: Recurrence) -> str:
    """Compact JSON stored in the reminders table."""
    return json.dumps(rule.to_dict(), separators=(",", ":"))


def from_spec(spec: str) -> Recurrence:
    data = json.loads(spec)
    kind = data["kind"]
    if kind == "interval":
        return Interval(float(data["seconds"]), float(data["anchor"]))
    if kind == "daily":
        return Daily(int(data["every"]), time.fromisoformat(data["at"]), date.fromisoformat(data["anchor"]))
    if kind == "weekly":
        return Weekly(tuple(int(d) for d in data["days"]), time.fromisoformat(data["at"]))
    if kind == "monthly":
        return Monthly(int(data["every"]), int(data["day"]), time.fromisoformat(data["at"]),
                       date.fromisoformat(data["anchor"]))
    raise ValueError(f"unknown recurrence kind {kind!r}")
