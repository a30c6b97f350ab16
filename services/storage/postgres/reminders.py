"""Reminder rows in PostgreSQL: claimed before delivery, so several processes deliver each exactly once.

claim_due marks due rows `delivering` by this process in the claiming transaction (`FOR UPDATE SKIP
LOCKED`: two processes claiming together never wait for, nor take, the same row). The claim is
renewed while the batch is out; a process that dies stops renewing, its claims expire and the
process now holding the shard takes them over. `apply` is fenced by the claim. add and cancel send
`NOTIFY reminders` in their transaction, so the scheduler of the shard wakes at once (on commit).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

import asyncpg

from services.reminders.models import NewReminder, Outcome, Reminder
from services.reminders.recurrence import from_spec, to_spec
from services.reminders.store import ChangeCallback, ReminderStore, too_many
from services.shards import ALL, Shards
from services.storage.postgres.database import PgDatabase, rows_changed

log = logging.getLogger(__name__)

CHANNEL = "reminders"
COLUMNS = ("id, owner_id, guild_id, channel_id, dm, text, due_at, occurrence_at, recurrence, tz, state, "
           "attempts, last_error, created_at, delivered_at, deliveries")
ACTIVE = "state IN ('pending', 'delivering')"


def _reminder(row: Any) -> Reminder:
    return Reminder(
        id=row["id"], owner_id=row["owner_id"], guild_id=row["guild_id"], channel_id=row["channel_id"],
        dm=row["dm"], text=row["text"], due_at=row["due_at"], occurrence_at=row["occurrence_at"],
        recurrence=from_spec(row["recurrence"]) if row["recurrence"] else None, tz=row["tz"],
        state=row["state"], attempts=row["attempts"], last_error=row["last_error"],
        created_at=row["created_at"], delivered_at=row["delivered_at"], deliveries=row["deliveries"],
    )


def _in_shards(shards: Shards, first: int) -> tuple[str, list[Any]]:
    """Discord's shard rule as SQL; parameters numbered from `first`."""
    if shards.is_all:
        return "true", []
    return (f"(CASE WHEN guild_id IS NULL THEN 0 ELSE (guild_id >> 22) % ${first} END) = ANY(${first + 1}::int[])",
            [shards.count, shards.sorted_ids()])


class PostgresReminderStore(ReminderStore):
    def __init__(self, db: PgDatabase, *, clock: Callable[[], float] = time.time) -> None:
        super().__init__(clock=clock)
        self._db = db
        self._subscribers: list[ChangeCallback] = []

    async def add(self, new: NewReminder, *, max_pending: int | None = None) -> Reminder:
        now = self._clock()
        async with self._db.transaction() as conn:
            if max_pending is not None:
                # One owner's adds are serialised, so two processes cannot both pass the limit.
                await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended('reminder owner ' || $1, 0))",
                                   str(new.owner_id))
                count = await conn.fetchval(f"SELECT count(*) FROM reminders WHERE owner_id = $1 AND {ACTIVE}",
                                            new.owner_id)
                if count >= max_pending:
                    raise too_many(count, max_pending)
            row = await conn.fetchrow(
                "INSERT INTO reminders (owner_id, guild_id, channel_id, dm, text, due_at, occurrence_at, "
                "recurrence, tz, created_at) VALUES ($1, $2, $3, $4, $5, $6, $6, $7, $8, $9) RETURNING " + COLUMNS,
                new.owner_id, new.guild_id, new.channel_id, new.dm, new.text, new.due_at,
                to_spec(new.recurrence) if new.recurrence else None, new.tz, now)
            await self._changed(conn, new.due_at, new.guild_id)
        return _reminder(row)

    async def _changed(self, conn: asyncpg.Connection, due_at: float, guild_id: int | None) -> None:
        await PgDatabase.notify(conn, CHANNEL, {"due_at": due_at, "guild_id": guild_id})

    async def get(self, reminder_id: int) -> Reminder | None:
        row = await self._db.fetchrow(f"SELECT {COLUMNS} FROM reminders WHERE id = $1", reminder_id)
        return _reminder(row) if row else None

    async def next_due_at(self, shards: Shards = ALL) -> float | None:
        where, params = _in_shards(shards, 1)
        value = await self._db.fetchval(
            f"SELECT min(t) FROM ("
            f"(SELECT due_at AS t FROM reminders WHERE state = 'pending' AND {where} ORDER BY due_at LIMIT 1) "
            f"UNION ALL (SELECT claim_expires_at FROM reminders WHERE state = 'delivering' AND {where} "
            f"ORDER BY claim_expires_at LIMIT 1)) AS next", *params)
        return None if value is None else float(value)

    async def due(self, now: float, limit: int, shards: Shards = ALL) -> list[Reminder]:
        where, params = _in_shards(shards, 3)
        rows = await self._db.fetch(
            f"SELECT {COLUMNS} FROM reminders WHERE state = 'pending' AND due_at <= $1 AND {where} "
            "ORDER BY due_at, id LIMIT $2", now, limit, *params)
        return [_reminder(r) for r in rows]

    async def claim_due(self, now: float, limit: int, *, shards: Shards = ALL, claim: str = "",
                        lease: float = 60.0) -> list[Reminder]:
        where, params = _in_shards(shards, 5)
        rows = await self._db.fetch(
            f"WITH due AS (SELECT id FROM reminders "
            f"  WHERE due_at <= $1 AND (state = 'pending' OR (state = 'delivering' AND claim_expires_at < $1)) "
            f"  AND {where} ORDER BY due_at, id LIMIT $2 FOR UPDATE SKIP LOCKED) "
            f"UPDATE reminders r SET state = 'delivering', claimed_by = $3, claim_expires_at = $4 "
            f"FROM due WHERE r.id = due.id RETURNING " + ", ".join(f"r.{c.strip()}" for c in COLUMNS.split(",")),
            now, limit, claim, now + lease, *params)
        return sorted((_reminder(r) for r in rows), key=lambda r: (r.due_at, r.id))

    async def renew(self, claim: str, until: float) -> int:
        return await self._db.execute(
            "UPDATE reminders SET claim_expires_at = $2 WHERE state = 'delivering' AND claimed_by = $1", claim, until)

    async def release(self, claim: str) -> int:
        return await self._db.execute(
            "UPDATE reminders SET state = 'pending', claimed_by = NULL, claim_expires_at = NULL "
            "WHERE state = 'delivering' AND claimed_by = $1", claim)

    async def count_pending(self, owner_id: int) -> int:
        return int(await self._db.fetchval(f"SELECT count(*) FROM reminders WHERE owner_id = $1 AND {ACTIVE}",
                                           owner_id))

    async def count_all(self, owner_id: int) -> int:
        return int(await self._db.fetchval("SELECT count(*) FROM reminders WHERE owner_id = $1", owner_id))

    async def list_pending(self, owner_id: int, *, limit: int, offset: int = 0) -> list[Reminder]:
        rows = await self._db.fetch(
            f"SELECT {COLUMNS} FROM reminders WHERE owner_id = $1 AND {ACTIVE} ORDER BY due_at, id LIMIT $2 OFFSET $3",
            owner_id, limit, offset)
        return [_reminder(r) for r in rows]

    async def cancel(self, reminder_id: int) -> bool:
        async with self._db.transaction() as conn:
            row = await conn.fetchrow(
                "UPDATE reminders SET state = 'cancelled', finished_at = $1, claimed_by = NULL, "
                f"claim_expires_at = NULL WHERE id = $2 AND {ACTIVE} RETURNING due_at, guild_id",
                self._clock(), reminder_id)
            if row is not None:
                await self._changed(conn, row["due_at"], row["guild_id"])
        return row is not None

    async def cancel_in_guild(self, owner_id: int, guild_id: int, reason: str) -> list[Reminder]:
        async with self._db.transaction() as conn:
            rows = await conn.fetch(
                "UPDATE reminders SET state = 'cancelled', finished_at = $1, last_error = $2, claimed_by = NULL, "
                f"claim_expires_at = NULL WHERE owner_id = $3 AND guild_id = $4 AND {ACTIVE} RETURNING {COLUMNS}",
                self._clock(), reason, owner_id, guild_id)
            if rows:
                await self._changed(conn, min(r["due_at"] for r in rows), guild_id)
        return sorted((_reminder(r) for r in rows), key=lambda r: (r.due_at, r.id))

    async def delete_owner(self, owner_id: int) -> int:
        async with self._db.transaction() as conn:
            removed = rows_changed(await conn.execute("DELETE FROM reminders WHERE owner_id = $1", owner_id))
            await conn.execute("DELETE FROM user_settings WHERE user_id = $1", owner_id)
        return removed

    async def apply(self, outcomes: Sequence[Outcome], *, claim: str = "") -> int:
        if not outcomes:
            return 0
        now = self._clock()
        columns = list(zip(*[
            (o.state, o.due_at, o.occurrence_at, o.attempts, o.last_error, o.delivered_at,
             int(o.delivered_at is not None), None if o.state == "pending" else now, o.reminder_id)
            for o in outcomes], strict=True))
        # One statement for the whole group; RETURNING counts the rows the claim fence let through.
        rows = await self._db.fetch(
            "UPDATE reminders r SET state = u.state, due_at = u.due_at, occurrence_at = u.occurrence_at, "
            "attempts = u.attempts, last_error = u.last_error, "
            "delivered_at = COALESCE(u.delivered_at, r.delivered_at), deliveries = r.deliveries + u.delivered, "
            "finished_at = u.finished_at, claim_expires_at = NULL "  # claimed_by stays: who delivered it last
            "FROM unnest($1::text[], $2::float8[], $3::float8[], $4::int[], $5::text[], $6::float8[], $7::int[], "
            "$8::float8[], $9::bigint[]) AS u(state, due_at, occurrence_at, attempts, last_error, delivered_at, "
            "delivered, finished_at, id) "
            "WHERE r.id = u.id AND r.state = 'delivering' AND r.claimed_by = $10 RETURNING r.id",
            *(list(c) for c in columns), claim)
        return len(rows)

    async def prune_finished(self, older_than: float, *, batch: int = 500) -> int:
        return await self._db.delete_in_batches(
            "reminders", "state NOT IN ('pending', 'delivering') AND finished_at < $1", (older_than,),
            order_by="finished_at", batch=batch)

    async def get_timezone(self, user_id: int) -> str | None:
        value = await self._db.fetchval("SELECT tz FROM user_settings WHERE user_id = $1", user_id)
        return None if value is None else str(value)

    async def set_timezone(self, user_id: int, tz: str) -> None:
        await self._db.execute(
            "INSERT INTO user_settings (user_id, tz, updated_at) VALUES ($1, $2, $3) "
            "ON CONFLICT (user_id) DO UPDATE SET tz = excluded.tz, updated_at = excluded.updated_at",
            user_id, tz, self._clock())

    def subscribe(self, callback: ChangeCallback) -> Callable[[], None]:
        """Listening starts in `start()`; each payload is (due_at, guild_id)."""
        self._subscribers.append(callback)
        return lambda: self._subscribers.remove(callback) if callback in self._subscribers else None

    async def start(self) -> None:
        await self._db.listen(CHANNEL, self._heard)
        self._db.on_reconnect(self._missed)

    async def _missed(self) -> None:
        for callback in list(self._subscribers):
            callback(None, None)

    def _heard(self, payload: str) -> None:
        try:
            note = json.loads(payload)
            due_at, guild_id = float(note["due_at"]), note["guild_id"]
        except (ValueError, KeyError, TypeError):
            log.warning("Ignored a malformed reminders notification: %.200r", payload)
            return
        for callback in list(self._subscribers):
            callback(due_at, None if guild_id is None else int(guild_id))
