"""conversation_turns rows in PostgreSQL."""

from __future__ import annotations

import time
from collections.abc import Callable

from services.chat.memory import ConversationStore, Turn
from services.storage.postgres.database import PgDatabase


class PostgresConversationStore(ConversationStore):
    def __init__(self, db: PgDatabase, *, clock: Callable[[], float] = time.time) -> None:
        super().__init__(clock=clock)
        self._db = db

    async def _insert(self, scope_id: int, turn: Turn, created_at: float) -> int:
        return int(await self._db.fetchval(
            "INSERT INTO conversation_turns (scope_id, role, author_id, author_name, content, created_at, status) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
            scope_id, turn.role, turn.author_id, turn.author_name, turn.content, created_at, turn.status))

    async def _newest(self, scope_id: int, limit: int) -> list[Turn]:
        rows = await self._db.fetch(
            "SELECT id, role, content, author_name, author_id, status, created_at FROM conversation_turns "
            "WHERE scope_id = $1 ORDER BY id DESC LIMIT $2", scope_id, limit)
        return [Turn(role=r["role"], content=r["content"], author_name=r["author_name"], author_id=r["author_id"],
                     status=r["status"], id=r["id"], created_at=r["created_at"]) for r in rows]

    async def clear(self, scope_id: int) -> int:
        return await self._db.execute("DELETE FROM conversation_turns WHERE scope_id = $1", scope_id)

    async def _prune(self, cutoff: float) -> int:
        return await self._db.delete_in_batches("conversation_turns", "created_at < $1", (cutoff,),
                                                order_by="created_at")

    async def count(self, scope_id: int) -> int:
        return int(await self._db.fetchval("SELECT count(*) FROM conversation_turns WHERE scope_id = $1", scope_id))
