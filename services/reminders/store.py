"""Reminder rows in SQLite: the only place pending reminders live.

The scheduler reads through the (state, due_at) index one row or one due batch at a time, so
memory does not grow with the number of pending reminders.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import aiosqlite

from services.reminders.errors import TooManyReminders
from services.reminders.models import NewReminder, Outcome, Reminder
from services.reminders.recurrence import from_spec, to_spec
from services.storage import Database

_COLUMNS = ("id, owner_id, guild_id, channel_id, dm, text, due_at, occurrence_at, recurrence, tz, state, "
            "attempts, last_error, created_at, delivered_at, deliveries")


def _row(row: aiosqlite.Row) -> Reminder:
    return Reminder(
        id=row["id"], owner_id=row["owner_id"], guild_id=row["guild_id"], channel_id=row["channel_id"],
        dm=bool(row["dm"]), text=row["text"], due_at=row["due_at"], occurrence_at=row["occurrence_at"],
        recurrence=from_spec(row["recurrence"]) if row["recurrence"] else None, tz=row["tz"],
        state=row["state"], attempts=row["attempts"], last_error=row["last_error"],
        created_at=row["created_at"], delivered_at=row["delivered_at"], deliveries=row["deliveries"],
    )


class ReminderStore:
    """Repository over Database for reminders and per-user time zones."""

    def __init__(self, db: Database, *, clock: Callable[[], float] = time.time) -> None:
        self._db = db
        self._clock = clock

    async def add(self, new: NewReminder, *, max_pending: int | None = None) -> Reminder:
        """Insert a pending reminder; the per-user limit is checked in the same transaction."""
        now = self._clock()
        async with self._db.transaction() as tx:
            if max_pending is not None:
                cursor = await tx.execute(
                    "SELECT COUNT(*) FROM reminders WHERE owner_id = ? AND state = 'pending'", (new.owner_id,))
                row = await cursor.fetchone()
                if row is not None and row[0] >= max_pending:
                    raise TooManyReminders(
                        f"You already have {row[0]} pending reminders, the most allowed ({max_pending}). "
                        "Cancel one with /reminder-cancel first.")
            cursor = await tx.execute(
                "INSERT INTO reminders (owner_id, guild_id, channel_id, dm, text, due_at, occurrence_at, "
                "recurrence, tz, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING " + _COLUMNS,
                (new.owner_id, new.guild_id, new.channel_id, int(new.dm), new.text, new.due_at, new.due_at,
                 to_spec(new.recurrence) if new.recurrence else None, new.tz, now),
            )
            inserted = await cursor.fetchone()
            await cursor.close()
        assert inserted is not None
        return _row(inserted)

    async def get(self, reminder_id: int) -> Reminder | None:
        row = await self._db.fetchone(f"SELECT {_COLUMNS} FROM reminders WHERE id = ?", (reminder_id,))
        return _row(row) if row else None

    async def next_due_at(self) -> float | None:
        """The earliest due time of any pending reminder (one index probe)."""
        row = await self._db.fetchone(
            "SELECT due_at FROM reminders WHERE state = 'pending' ORDER BY due_at LIMIT 1")
        return float(row[0]) if row else None

    async def due(self, now: float, limit: int) -> list[Reminder]:
        """Pending reminders due at `now`, earliest first, at most `limit`."""
        rows = await self._db.fetchall(
            f"SELECT {_COLUMNS} FROM reminders WHERE state = 'pending' AND due_at <= ? "
            "ORDER BY due_at, id LIMIT ?", (now, limit))
        return [_row(r) for r in rows]

    async def count_pending(self, owner_id: int) -> int:
        row = await self._db.fetchone(
            "SELECT COUNT(*) FROM reminders WHERE owner_id = ? AND state = 'pending'", (owner_id,))
        return int(row[0]) if row else 0

    async def count_all(self, owner_id: int) -> int:
        """Reminders of the owner in any state (pending, and finished ones kept REMINDER_HISTORY_DAYS)."""
        row = await self._db.fetchone("SELECT COUNT(*) FROM reminders WHERE owner_id = ?", (owner_id,))
        return int(row[0]) if row else 0

    async def list_pending(self, owner_id: int, *, limit: int, offset: int = 0) -> list[Reminder]:
        rows = await self._db.fetchall(
            f"SELECT {_COLUMNS} FROM reminders WHERE owner_id = ? AND state = 'pending' "
            "ORDER BY due_at, id LIMIT ? OFFSET ?", (owner_id, limit, offset))
        return [_row(r) for r in rows]

    async def cancel(self, reminder_id: int) -> bool:
        """Cancel if still pending; False when it was delivered, failed or cancelled meanwhile."""
        return await self._db.execute(
            "UPDATE reminders SET state = 'cancelled', finished_at = ? WHERE id = ? AND state = 'pending'",
            (self._clock(), reminder_id)) > 0

    async def cancel_in_guild(self, owner_id: int, guild_id: int, reason: str) -> list[Reminder]:
        """Cancel every pending reminder the owner set in that server (they left or were banned)."""
        async with self._db.transaction() as tx:
            cursor = await tx.execute(
                "UPDATE reminders SET state = 'cancelled', finished_at = ?, last_error = ? "
                f"WHERE owner_id = ? AND guild_id = ? AND state = 'pending' RETURNING {_COLUMNS}",
                (self._clock(), reason, owner_id, guild_id))
            rows = await cursor.fetchall()
            await cursor.close()
        return [_row(r) for r in rows]

    async def delete_owner(self, owner_id: int) -> int:
        """Erase every reminder of the owner, in any state, and their time zone (/forget-me)."""
        async with self._db.transaction() as tx:
            cursor = await tx.execute("DELETE FROM reminders WHERE owner_id = ?", (owner_id,))
            await tx.execute("DELETE FROM user_settings WHERE user_id = ?", (owner_id,))
            return cursor.rowcount

    async def apply(self, outcomes: Sequence[Outcome]) -> int:
        """Record attempts in ONE transaction: delivered, advanced to the next occurrence, retried or failed.

        A row cancelled while its delivery was in flight keeps its cancelled state.
        """
        now = self._clock()
        params: list[Sequence[Any]] = [
            (o.state, o.due_at, o.occurrence_at, o.attempts, o.last_error, o.delivered_at,
             int(o.delivered_at is not None), None if o.state == "pending" else now, o.reminder_id)
            for o in outcomes
        ]
        async with self._db.transaction() as tx:
            cursor = await tx.executemany(
                "UPDATE reminders SET state = ?, due_at = ?, occurrence_at = ?, attempts = ?, last_error = ?, "
                "delivered_at = COALESCE(?, delivered_at), deliveries = deliveries + ?, finished_at = ? "
                "WHERE id = ? AND state = 'pending'", params)
            return cursor.rowcount

    async def prune_finished(self, older_than: float, *, batch: int = 500) -> int:
        """Delete reminders that stopped being pending before `older_than`; pending ones are never touched."""
        return await self._db.delete_in_batches("reminders", "state != 'pending' AND finished_at < ?", (older_than,),
                                                order_by="finished_at", batch=batch)

    # --- user time zones ---------------------------------------------------------------------

    async def get_timezone(self, user_id: int) -> str | None:
        row = await self._db.fetchone("SELECT tz FROM user_settings WHERE user_id = ?", (user_id,))
        return str(row[0]) if row else None

    async def set_timezone(self, user_id: int, tz: str) -> None:
        await self._db.execute(
            "INSERT INTO user_settings (user_id, tz, updated_at) VALUES (?, ?, ?) "
            "ON CONFLICT (user_id) DO UPDATE SET tz = excluded.tz, updated_at = excluded.updated_at",
            (user_id, tz, self._clock()))
