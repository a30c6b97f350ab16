"""Reminder rows in SQLite: one process, so a claim is only the read (rows stay `pending`)."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from services.reminders.models import NewReminder, Outcome, Reminder
from services.reminders.recurrence import from_spec, to_spec
from services.reminders.store import ReminderStore, too_many
from services.shards import ALL, Shards
from services.storage.db import Database

COLUMNS = ("id, owner_id, guild_id, channel_id, dm, text, due_at, occurrence_at, recurrence, tz, state, "
           "attempts, last_error, created_at, delivered_at, deliveries")
# Discord's shard rule in SQL (the parameter is the shard count); with one shard always 0.
SHARD = "(CASE WHEN guild_id IS NULL THEN 0 ELSE (guild_id >> 22) % ? END)"


def row_to_reminder(row: Any) -> Reminder:
    return Reminder(
        id=row["id"], owner_id=row["owner_id"], guild_id=row["guild_id"], channel_id=row["channel_id"],
        dm=bool(row["dm"]), text=row["text"], due_at=row["due_at"], occurrence_at=row["occurrence_at"],
        recurrence=from_spec(row["recurrence"]) if row["recurrence"] else None, tz=row["tz"],
        state=row["state"], attempts=row["attempts"], last_error=row["last_error"],
        created_at=row["created_at"], delivered_at=row["delivered_at"], deliveries=row["deliveries"],
    )


def _in_shards(shards: Shards) -> tuple[str, tuple[int, ...]]:
    if shards.is_all:
        return "1", ()
    ids = shards.sorted_ids()
    return f"{SHARD} IN ({', '.join('?' * len(ids))})", (shards.count, *ids)


class SqliteReminderStore(ReminderStore):
    def __init__(self, db: Database, *, clock: Callable[[], float] = time.time) -> None:
        super().__init__(clock=clock)
        self._db = db

    async def add(self, new: NewReminder, *, max_pending: int | None = None) -> Reminder:
        now = self._clock()
        async with self._db.transaction() as tx:
            if max_pending is not None:
                cursor = await tx.execute(
                    "SELECT COUNT(*) FROM reminders WHERE owner_id = ? AND state = 'pending'", (new.owner_id,))
                row = await cursor.fetchone()
                if row is not None and row[0] >= max_pending:
                    raise too_many(row[0], max_pending)
            cursor = await tx.execute(
                "INSERT INTO reminders (owner_id, guild_id, channel_id, dm, text, due_at, occurrence_at, "
                "recurrence, tz, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING " + COLUMNS,
                (new.owner_id, new.guild_id, new.channel_id, int(new.dm), new.text, new.due_at, new.due_at,
                 to_spec(new.recurrence) if new.recurrence else None, new.tz, now),
            )
            inserted = await cursor.fetchone()
            await cursor.close()
        assert inserted is not None
        return row_to_reminder(inserted)

    async def get(self, reminder_id: int) -> Reminder | None:
        row = await self._db.fetchone(f"SELECT {COLUMNS} FROM reminders WHERE id = ?", (reminder_id,))
        return row_to_reminder(row) if row else None

    async def next_due_at(self, shards: Shards = ALL) -> float | None:
        where, params = _in_shards(shards)
        row = await self._db.fetchone(
            f"SELECT due_at FROM reminders WHERE state = 'pending' AND {where} ORDER BY due_at LIMIT 1", params)
        return float(row[0]) if row else None

    async def due(self, now: float, limit: int, shards: Shards = ALL) -> list[Reminder]:
        where, params = _in_shards(shards)
        rows = await self._db.fetchall(
            f"SELECT {COLUMNS} FROM reminders WHERE state = 'pending' AND due_at <= ? AND {where} "
            "ORDER BY due_at, id LIMIT ?", (now, *params, limit))
        return [row_to_reminder(r) for r in rows]

    async def claim_due(self, now: float, limit: int, *, shards: Shards = ALL, claim: str = "",
                        lease: float = 60.0) -> list[Reminder]:
        return await self.due(now, limit, shards)

    async def renew(self, claim: str, until: float) -> int:
        return 0

    async def release(self, claim: str) -> int:
        return 0

    async def count_pending(self, owner_id: int) -> int:
        row = await self._db.fetchone(
            "SELECT COUNT(*) FROM reminders WHERE owner_id = ? AND state = 'pending'", (owner_id,))
        return int(row[0]) if row else 0

    async def count_all(self, owner_id: int) -> int:
        row = await self._db.fetchone("SELECT COUNT(*) FROM reminders WHERE owner_id = ?", (owner_id,))
        return int(row[0]) if row else 0

    async def list_pending(self, owner_id: int, *, limit: int, offset: int = 0) -> list[Reminder]:
        rows = await self._db.fetchall(
            f"SELECT {COLUMNS} FROM reminders WHERE owner_id = ? AND state = 'pending' "
            "ORDER BY due_at, id LIMIT ? OFFSET ?", (owner_id, limit, offset))
        return [row_to_reminder(r) for r in rows]

    async def cancel(self, reminder_id: int) -> bool:
        return await self._db.execute(
            "UPDATE reminders SET state = 'cancelled', finished_at = ? WHERE id = ? AND state = 'pending'",
            (self._clock(), reminder_id)) > 0

    async def cancel_in_guild(self, owner_id: int, guild_id: int, reason: str) -> list[Reminder]:
        async with self._db.transaction() as tx:
            cursor = await tx.execute(
                "UPDATE reminders SET state = 'cancelled', finished_at = ?, last_error = ? "
                f"WHERE owner_id = ? AND guild_id = ? AND state = 'pending' RETURNING {COLUMNS}",
                (self._clock(), reason, owner_id, guild_id))
            rows = await cursor.fetchall()
            await cursor.close()
        return sorted((row_to_reminder(r) for r in rows), key=lambda r: (r.due_at, r.id))

    async def delete_owner(self, owner_id: int) -> int:
        async with self._db.transaction() as tx:
            cursor = await tx.execute("DELETE FROM reminders WHERE owner_id = ?", (owner_id,))
            await tx.execute("DELETE FROM user_settings WHERE user_id = ?", (owner_id,))
            return cursor.rowcount

    async def apply(self, outcomes: Sequence[Outcome], *, claim: str = "") -> int:
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
        return await self._db.delete_in_batches("reminders", "state != 'pending' AND finished_at < ?", (older_than,),
                                                order_by="finished_at", batch=batch)

    async def get_timezone(self, user_id: int) -> str | None:
        row = await self._db.fetchone("SELECT tz FROM user_settings WHERE user_id = ?", (user_id,))
        return str(row[0]) if row else None

    async def set_timezone(self, user_id: int, tz: str) -> None:
        await self._db.execute(
            "INSERT INTO user_settings (user_id, tz, updated_at) VALUES (?, ?, ?) "
            "ON CONFLICT (user_id) DO UPDATE SET tz = excluded.tz, updated_at = excluded.updated_at",
            (user_id, tz, self._clock()))
