"""Where pending reminders live: the contract both backends implement.

The scheduler reads through the (state, due_at) index one row or one due batch at a time, so memory
does not grow with the number of pending reminders. Due reminders are *claimed* before delivery:
with one process (SQLite) a claim is just the read; on PostgreSQL the rows are marked `delivering`
by this process in the claiming transaction (`FOR UPDATE SKIP LOCKED`), so two processes never
take the same row, and a claim that is not renewed expires, so another process takes it over.
Outcomes are fenced by the claim: a process whose claim was taken over cannot overwrite the result.

Implementations: services/storage/sqlite/reminders.py, services/storage/postgres/reminders.py.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence

from services.reminders.errors import TooManyReminders
from services.reminders.models import NewReminder, Outcome, Reminder
from services.shards import ALL, Shards

# (due_at, guild_id): a reminder was added or cancelled, possibly by another process; (None, None):
# anything may have changed (notifications were missed while the listening connection was down).
ChangeCallback = Callable[[float | None, int | None], None]


def too_many(count: int, max_pending: int) -> TooManyReminders:
    return TooManyReminders(f"You already have {count} pending reminders, the most allowed ({max_pending}). "
                            "Cancel one with /reminder-cancel first.")


class ReminderStore(ABC):
    """Reminders and per-user time zones."""

    def __init__(self, *, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock

    @abstractmethod
    async def add(self, new: NewReminder, *, max_pending: int | None = None) -> Reminder:
        """Insert a pending reminder; the per-user limit is checked in the same transaction."""

    @abstractmethod
    async def get(self, reminder_id: int) -> Reminder | None: ...

    @abstractmethod
    async def next_due_at(self, shards: Shards = ALL) -> float | None:
        """When the scheduler of these shards must act next: the earliest pending due time, or the
        earliest expiry of another process's claim (one index probe each)."""

    @abstractmethod
    async def due(self, now: float, limit: int, shards: Shards = ALL) -> list[Reminder]:
        """Pending reminders due at `now`, earliest first, at most `limit`; claims nothing."""

    @abstractmethod
    async def claim_due(self, now: float, limit: int, *, shards: Shards = ALL, claim: str = "",
                        lease: float = 60.0) -> list[Reminder]:
        """Take up to `limit` due reminders of `shards` for delivery by `claim` until `now + lease`
        (also rows whose earlier claim expired). SQLite: the same as `due` (one process)."""

    @abstractmethod
    async def renew(self, claim: str, until: float) -> int:
        """Extend this claim's rows still being delivered; returns how many."""

    @abstractmethod
    async def count_all(self, owner_id: int) -> int:
        """Reminders of the owner in any state (pending, and finished ones kept REMINDER_HISTORY_DAYS)."""

    @abstractmethod
    async def release(self, claim: str) -> int:
        """Give back rows claimed and not yet applied (a clean stop mid-batch); returns how many."""

    @abstractmethod
    async def count_pending(self, owner_id: int) -> int: ...

    @abstractmethod
    async def list_pending(self, owner_id: int, *, limit: int, offset: int = 0) -> list[Reminder]: ...

    @abstractmethod
    async def cancel(self, reminder_id: int) -> bool:
        """Cancel if still pending (or being delivered); False when it was delivered, failed or cancelled."""

    @abstractmethod
    async def cancel_in_guild(self, owner_id: int, guild_id: int, reason: str) -> list[Reminder]:
        """Cancel every pending (or claimed) reminder the owner set in that server (they left or were
        banned); returns them, earliest first."""

    @abstractmethod
    async def delete_owner(self, owner_id: int) -> int:
        """Erase every reminder of the owner, in any state, and their time zone (/forget-me)."""

    @abstractmethod
    async def apply(self, outcomes: Sequence[Outcome], *, claim: str = "") -> int:
        """Record attempts in ONE transaction: delivered, advanced to the next occurrence, retried or
        failed. A row cancelled meanwhile, or claimed by someone else since, is left alone."""

    @abstractmethod
    async def prune_finished(self, older_than: float, *, batch: int = 500) -> int:
        """Delete reminders that stopped being pending before `older_than`; pending ones are never touched."""

    @abstractmethod
    async def get_timezone(self, user_id: int) -> str | None: ...

    @abstractmethod
    async def set_timezone(self, user_id: int, tz: str) -> None: ...

    def subscribe(self, callback: ChangeCallback) -> Callable[[], None]:
        """callback(due_at, guild_id) when another process adds or cancels a reminder, (None, None) when
        notifications may have been missed; returns the undo.
        One process (SQLite) has nobody else: the service tells its own scheduler."""
        return lambda: None
