"""What the store, scheduler, service and cog pass between them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal
from zoneinfo import ZoneInfo

from services.reminders.recurrence import Recurrence

# "delivering": claimed by one process (PostgreSQL only); to its owner it is still pending.
State = Literal["pending", "delivering", "delivered", "failed", "cancelled"]
STATES: tuple[State, ...] = ("pending", "delivering", "delivered", "failed", "cancelled")
ACTIVE: tuple[State, ...] = ("pending", "delivering")


@dataclass(frozen=True)
class NewReminder:
    owner_id: int
    guild_id: int | None  # None in a DM channel
    channel_id: int | None
    dm: bool  # deliver by DM instead of in the channel
    text: str
    due_at: float  # UTC epoch seconds
    recurrence: Recurrence | None
    tz: str


@dataclass(frozen=True)
class Reminder:
    id: int
    owner_id: int
    guild_id: int | None
    channel_id: int | None
    dm: bool
    text: str
    due_at: float  # when the scheduler acts next: the occurrence, or a retry after a failed attempt
    occurrence_at: float  # the time the user asked for (this occurrence); lateness is measured from it
    recurrence: Recurrence | None
    tz: str
    state: State
    attempts: int  # failed attempts at this occurrence
    last_error: str | None
    created_at: float
    delivered_at: float | None  # last successful delivery
    deliveries: int

    @property
    def nonce(self) -> str:
        """The same for every attempt at one occurrence (at most Discord's 25 characters): with
        `enforce_nonce`, Discord answers a repeat with the message it already created."""
        return f"r{self.id}.{int(self.occurrence_at)}"[:25]

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.tz)

    @property
    def occurrence(self) -> datetime:
        return datetime.fromtimestamp(self.occurrence_at, UTC)

    def next_occurrence(self, now: float) -> float | None:
        """The first occurrence after both this one and `now` (None if it does not repeat): a long
        outage is not replayed occurrence by occurrence. The scheduler and the delivery footer agree."""
        if self.recurrence is None:
            return None
        after = datetime.fromtimestamp(max(self.occurrence_at, now), UTC)
        return self.recurrence.next_after(after, self.zone).timestamp()


@dataclass(frozen=True)
class DueReminder:
    """Handed to the deliver callable: the reminder, how late it is, and which attempt this is."""

    reminder: Reminder
    late_by: float  # seconds after the occurrence time
    attempt: int  # 1 for the first try


@dataclass(frozen=True)
class DeliveryResult:
    """What the cog's deliver callable reports: sent (and how), or why not and whether to retry."""

    delivered: bool
    via: Literal["channel", "dm"] | None = None
    error: str | None = None
    permanent: bool = False  # nowhere left to deliver (user unreachable): stop retrying
    withdrawn: bool = False  # must not be delivered at all (its owner left the server): cancelled

    @classmethod
    def sent(cls, via: Literal["channel", "dm"]) -> DeliveryResult:
        return cls(True, via=via)

    @classmethod
    def failed(cls, reason: str, *, permanent: bool = False) -> DeliveryResult:
        return cls(False, error=reason, permanent=permanent)

    @classmethod
    def withdraw(cls, reason: str) -> DeliveryResult:
        return cls(False, error=reason, permanent=True, withdrawn=True)


@dataclass(frozen=True)
class Outcome:
    """The row update after one attempt; applied only to a row still active and (PostgreSQL) still
    claimed by this process, so a cancel, or another process that took an expired claim over, wins."""

    reminder_id: int
    state: State
    due_at: float
    occurrence_at: float
    attempts: int
    last_error: str | None
    delivered_at: float | None  # set when this attempt delivered
