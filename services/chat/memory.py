"""Conversation memory in SQLite: per scope (channel, thread, DM, voice channel), survives restarts."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from services.llm.base import Message, estimate_message_tokens
from services.storage.db import Database


@dataclass(frozen=True)
class Turn:
    role: str                  # "user" or "assistant"
    content: str
    author_name: str | None = None
    author_id: int | None = None
    status: str = "complete"   # "interrupted" when an answer was cut off (barge-in, shutdown)
    id: int | None = None
    created_at: float = 0.0
    arrived_at: float | None = None  # when its prompt arrived (memory order); None: now

    def to_message(self) -> Message:
        """As the model sees it: user turns carry their speaker's name."""
        if self.role == "user":
            return Message("user", self.content, self.author_name)
        return Message("assistant", self.content)

    @property
    def tokens(self) -> int:
        return estimate_message_tokens(self.to_message())


class ConversationStore:
    def __init__(self, db: Database, *, clock: Callable[[], float] = time.time) -> None:
        self._db = db
        self._clock = clock

    async def add(self, scope_id: int, turn: Turn) -> int:
        now = self._clock()
        async with self._db.transaction() as tx:
            cursor = await tx.execute(
                "INSERT INTO conversation_turns (scope_id, role, author_id, author_name, content, created_at, status, "
                "arrived_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (scope_id, turn.role, turn.author_id, turn.author_name, turn.content, now, turn.status,
                 now if turn.arrived_at is None else turn.arrived_at),
            )
            return int(cursor.lastrowid or 0)

    async def recent(self, scope_id: int, token_budget: int, *, max_turns: int = 200) -> list[Turn]:
        """The newest turns that fit the budget, oldest first (in prompt-arrival order, so exchanges
        answered concurrently never interleave); a turn that doesn't fit stops the walk."""
        rows = await self._db.fetchall(
            "SELECT id, role, content, author_name, author_id, status, created_at, arrived_at FROM conversation_turns "
            "WHERE scope_id = ? ORDER BY arrived_at DESC, id DESC LIMIT ?", (scope_id, max_turns))
        turns: list[Turn] = []
        used = 0
        for row in rows:
            turn = Turn(role=row["role"], content=row["content"], author_name=row["author_name"],
                        author_id=row["author_id"], status=row["status"], id=row["id"], created_at=row["created_at"],
                        arrived_at=row["arrived_at"])
            if used + turn.tokens > token_budget:
                break
            used += turn.tokens
            turns.append(turn)
        turns.reverse()
        return turns

    async def clear(self, scope_id: int) -> int:
        return await self._db.execute("DELETE FROM conversation_turns WHERE scope_id = ?", (scope_id,))

    async def prune(self, older_than_days: float) -> int:
        cutoff = self._clock() - older_than_days * 86400
        return await self._db.delete_in_batches("conversation_turns", "created_at < ?", (cutoff,),
                                                order_by="created_at")

    async def count(self, scope_id: int) -> int:
        row = await self._db.fetchone("SELECT COUNT(*) FROM conversation_turns WHERE scope_id = ?", (scope_id,))
        return int(row[0]) if row else 0
