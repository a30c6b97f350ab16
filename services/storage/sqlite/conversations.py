"""conversation_turns and conversation_messages rows in SQLite."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

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
from services.storage.db import Database

_INSERT = ("INSERT INTO conversation_turns (scope_id, kind, role, author_id, author_name, content, created_at, "
           "status, exchange_id, arrived_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
_LINK = ("INSERT INTO conversation_messages (message_id, channel_id, exchange_id, transcript_of, created_at) "
         "VALUES (?, ?, ?, ?, ?) ON CONFLICT (message_id) DO NOTHING")


class SqliteConversationStore(ConversationStore):
    def __init__(self, db: Database, *, clock: Callable[[], float] = time.time) -> None:
        super().__init__(clock=clock)
        self._db = db

    async def _insert(self, row: TurnRow) -> int:
        async with self._db.transaction() as tx:
            cursor = await tx.execute(_INSERT, row)
            return int(cursor.lastrowid or 0)

    async def _insert_exchange(self, prompt: TurnRow, answer: TurnRow | None, links: list[LinkRow]) -> int:
        async with self._db.transaction() as tx:
            cursor = await tx.execute(_INSERT, prompt)
            exchange_id = int(cursor.lastrowid or 0)
            await tx.execute("UPDATE conversation_turns SET exchange_id = ? WHERE id = ?", (exchange_id, exchange_id))
            if answer is not None:
                await tx.execute(_INSERT, (*answer[:8], exchange_id, *answer[9:]))
            await tx.executemany(_LINK, with_exchange(links, exchange_id))
        return exchange_id

    async def _link(self, rows: list[LinkRow]) -> None:
        await self._db.executemany(_LINK, rows)

    async def _newest(self, scope_id: int, kind: Kind, limit: int) -> list[Turn]:
        rows = await self._db.fetchall(
            "SELECT id, role, content, author_name, author_id, status, created_at, arrived_at FROM conversation_turns "
            "WHERE scope_id = ? AND kind = ? ORDER BY arrived_at DESC, id DESC LIMIT ?", (scope_id, kind, limit))
        return [Turn(role=r["role"], content=r["content"], author_name=r["author_name"], author_id=r["author_id"],
                     status=r["status"], id=r["id"], created_at=r["created_at"], arrived_at=r["arrived_at"])
                for r in rows]

    async def clear(self, scope_id: int, *, kind: Kind = "chat") -> int:
        async with self._db.transaction() as tx:
            await tx.execute(
                "DELETE FROM conversation_messages WHERE exchange_id IN (SELECT exchange_id FROM conversation_turns "
                "WHERE scope_id = ? AND kind = ? AND exchange_id IS NOT NULL)", (scope_id, kind))
            cursor = await tx.execute("DELETE FROM conversation_turns WHERE scope_id = ? AND kind = ?", (scope_id, kind))
            return cursor.rowcount

    async def forget_messages(self, message_ids: Sequence[int]) -> int:
        removed = 0
        for start in range(0, len(message_ids), BATCH):
            batch = list(message_ids[start:start + BATCH])
            async with self._db.transaction() as tx:
                cursor = await tx.execute(
                    f"SELECT DISTINCT exchange_id FROM conversation_messages WHERE message_id IN ({_marks(batch)})", batch)
                exchanges = [int(r[0]) for r in await cursor.fetchall()]
                removed += await _erase_exchanges(tx, exchanges)
        return removed

    async def forget_author(self, user_id: int) -> Forgotten:
        async with self._db.transaction() as tx:
            cursor = await tx.execute(
                "SELECT channel_id, message_id, transcript_of FROM conversation_messages WHERE transcript_of = ? "
                "ORDER BY message_id", (user_id,))
            transcripts = [MessageRef(r[0], r[1], r[2]) for r in await cursor.fetchall()]
            cursor = await tx.execute(
                "SELECT DISTINCT exchange_id FROM conversation_turns WHERE author_id = ? AND exchange_id IS NOT NULL",
                (user_id,))
            exchanges = [int(r[0]) for r in await cursor.fetchall()]
            removed = await _erase_exchanges(tx, exchanges)
            await tx.execute("DELETE FROM conversation_messages WHERE transcript_of = ?", (user_id,))
            cursor = await tx.execute("DELETE FROM conversation_turns WHERE author_id = ?", (user_id,))  # from before 0011
            return Forgotten(removed + cursor.rowcount, transcripts)

    async def _prune(self, cutoff: float) -> int:
        await self._db.delete_in_batches("conversation_messages", "created_at < ?", (cutoff,), order_by="created_at")
        return await self._db.delete_in_batches("conversation_turns", "created_at < ?", (cutoff,),
                                                order_by="created_at")

    async def count(self, scope_id: int, *, kind: Kind = "chat") -> int:
        row = await self._db.fetchone("SELECT COUNT(*) FROM conversation_turns WHERE scope_id = ? AND kind = ?",
                                      (scope_id, kind))
        return int(row[0]) if row else 0


def _marks(values: Sequence[object]) -> str:
    return ", ".join("?" for _ in values)


async def _erase_exchanges(tx: Any, exchanges: Sequence[int]) -> int:
    """Delete the turns and message links of these exchanges inside the caller's transaction.

    The ids are read first, not in a sub-select of the same table: SQLite may evaluate such a
    sub-select after it has already deleted some of the rows it reads."""
    removed = 0
    for start in range(0, len(exchanges), BATCH):
        batch = list(exchanges[start:start + BATCH])
        cursor = await tx.execute(f"DELETE FROM conversation_turns WHERE exchange_id IN ({_marks(batch)})", batch)
        removed += cursor.rowcount
        await tx.execute(f"DELETE FROM conversation_messages WHERE exchange_id IN ({_marks(batch)})", batch)
    return removed
