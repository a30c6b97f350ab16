"""conversation_turns rows in SQLite."""

from __future__ import annotations

import time
from collections.abc import Callable

from services.chat.memory import ConversationStore, Turn
from services.storage.db import Database


class SqliteConversationStore(ConversationStore):
    def __init__(self, db: Database, *, clock: Callable[[], float] = time.time) -> None:
        super().__init__(clock=clock)
        self._db = db

    async def _insert(self, scope_id: int, turn: Turn, created_at: float) -> int:
        async with self._db.transaction() as tx:
            cursor = await tx.execute(
                "INSERT INTO conversation_turns (scope_id, role, author_id, author_name, content, created_at, status) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (scope_id, turn.role, turn.author_id, turn.author_name, turn.content, created_at, turn.status))
            return int(cursor.lastrowid or 0)

    async def _newest(self, scope_id: int, limit: int) -> list[Turn]:
        rows = await self._db.fetchall(
            "SELECT id, role, content, author_name, author_id, status, created_at FROM conversation_turns "
            "WHERE scope_id = ? ORDER BY id DESC LIMIT ?", (scope_id, limit))
        return [Turn(role=r["role"], content=r["content"], author_name=r["author_name"], author_id=r["author_id"],
                     status=r["status"], id=r["id"], created_at=r["created_at"]) for r in rows]

    async def clear(self, scope_id: int) -> int:
        return await self._db.execute("DELETE FROM conversation_turns WHERE scope_id = ?", (scope_id,))

    async def _prune(self, cutoff: float) -> int:
        return await self._db.delete_in_batches("conversation_turns", "created_at < ?", (cutoff,),
                                                order_by="created_at")

    async def count(self, scope_id: int) -> int:
        row = await self._db.fetchone("SELECT COUNT(*) FROM conversation_turns WHERE scope_id = ?", (scope_id,))
        return int(row[0]) if row else 0
