"""conversation_turns and conversation_messages rows in PostgreSQL."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from services.chat.memory import (
    BATCH,
    ConversationStore,
    Forgotten,
    Kind,
    LinkRow,
    MessageRef,
    Turn,
    TurnRow,
    with_exchange,
)
from services.storage.postgres.database import PgDatabase, rows_changed

_INSERT = ("INSERT INTO conversation_turns (scope_id, kind, role, author_id, author_name, content, created_at, "
           "status, exchange_id, arrived_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id")
_LINK = ("INSERT INTO conversation_messages (message_id, channel_id, exchange_id, transcript_of, created_at) "
         "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (message_id) DO NOTHING")
# Turns and links of some exchanges; RETURNING counts the turns.
_ERASE_TURNS = "DELETE FROM conversation_turns WHERE exchange_id = ANY($1::bigint[])"
_ERASE_LINKS = "DELETE FROM conversation_messages WHERE exchange_id = ANY($1::bigint[])"


class PostgresConversationStore(ConversationStore):
    def __init__(self, db: PgDatabase, *, clock: Callable[[], float] = time.time) -> None:
        super().__init__(clock=clock)
        self._db = db

    async def _insert(self, row: TurnRow) -> int:
        return int(await self._db.fetchval(_INSERT, *row))

    async def _insert_exchange(self, prompt: TurnRow, answer: TurnRow | None, links: list[LinkRow]) -> int:
        async with self._db.transaction() as conn:
            exchange_id = int(await conn.fetchval(_INSERT, *prompt))
            await conn.execute("UPDATE conversation_turns SET exchange_id = $1 WHERE id = $1", exchange_id)
            if answer is not None:
                await conn.execute(_INSERT, *((*answer[:8], exchange_id, *answer[9:])))
            if links:
                await conn.executemany(_LINK, with_exchange(links, exchange_id))
        return exchange_id

    async def _link(self, rows: list[LinkRow]) -> None:
        async with self._db.transaction() as conn:
            await conn.executemany(_LINK, rows)

    async def _newest(self, scope_id: int, kind: Kind, limit: int) -> list[Turn]:
        rows = await self._db.fetch(
            "SELECT id, role, content, author_name, author_id, status, created_at, arrived_at FROM conversation_turns "
            "WHERE scope_id = $1 AND kind = $2 ORDER BY arrived_at DESC, id DESC LIMIT $3", scope_id, kind, limit)
        return [Turn(role=r["role"], content=r["content"], author_name=r["author_name"], author_id=r["author_id"],
                     status=r["status"], id=r["id"], created_at=r["created_at"], arrived_at=r["arrived_at"])
                for r in rows]

    async def clear(self, scope_id: int, *, kind: Kind = "chat") -> int:
        async with self._db.transaction() as conn:
            await conn.execute(
                "DELETE FROM conversation_messages WHERE exchange_id IN (SELECT exchange_id FROM conversation_turns "
                "WHERE scope_id = $1 AND kind = $2 AND exchange_id IS NOT NULL)", scope_id, kind)
            return rows_changed(await conn.execute(
                "DELETE FROM conversation_turns WHERE scope_id = $1 AND kind = $2", scope_id, kind))

    async def forget_messages(self, message_ids: Sequence[int]) -> int:
        removed = 0
        for start in range(0, len(message_ids), BATCH):
            batch = list(message_ids[start:start + BATCH])
            async with self._db.transaction() as conn:
                exchanges = [int(r[0]) for r in await conn.fetch(
                    "SELECT DISTINCT exchange_id FROM conversation_messages WHERE message_id = ANY($1::bigint[])",
                    batch)]
                removed += rows_changed(await conn.execute(_ERASE_TURNS, exchanges))
                await conn.execute(_ERASE_LINKS, exchanges)
        return removed

    async def forget_author(self, user_id: int) -> Forgotten:
        async with self._db.transaction() as conn:
            transcripts = [MessageRef(r[0], r[1], r[2]) for r in await conn.fetch(
                "SELECT channel_id, message_id, transcript_of FROM conversation_messages WHERE transcript_of = $1 "
                "ORDER BY message_id", user_id)]
            exchanges = [int(r[0]) for r in await conn.fetch(
                "SELECT DISTINCT exchange_id FROM conversation_turns WHERE author_id = $1 AND exchange_id IS NOT NULL",
                user_id)]
            removed = rows_changed(await conn.execute(_ERASE_TURNS, exchanges))
            await conn.execute(_ERASE_LINKS, exchanges)
            await conn.execute("DELETE FROM conversation_messages WHERE transcript_of = $1", user_id)
            # Rows from before exchanges were kept (migration 0011) have no exchange id.
            removed += rows_changed(await conn.execute("DELETE FROM conversation_turns WHERE author_id = $1", user_id))
            return Forgotten(removed, transcripts)

    async def _prune(self, cutoff: float) -> int:
        await self._db.delete_in_batches("conversation_messages", "created_at < $1", (cutoff,), order_by="created_at")
        return await self._db.delete_in_batches("conversation_turns", "created_at < $1", (cutoff,),
                                                order_by="created_at")

    async def count(self, scope_id: int, *, kind: Kind = "chat") -> int:
        return int(await self._db.fetchval(
            "SELECT count(*) FROM conversation_turns WHERE scope_id = $1 AND kind = $2", scope_id, kind))
