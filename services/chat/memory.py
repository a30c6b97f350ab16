"""Conversation memory in SQLite: per scope (channel, thread, DM, voice channel), survives restarts.

A scope is a channel id plus a kind: a voice channel's spoken conversation ("voice") is kept apart
from the text chat of the same channel id ("chat"). A prompt and its answer form an exchange, linked
to the Discord messages it came from or was shown in, so deleting a message, or /forget-me, erases
what was kept of it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from services.llm.base import Message, estimate_message_tokens
from services.storage.db import Database

Kind = Literal["chat", "voice"]
_BATCH = 500  # ids per statement: far below SQLite's variable limit


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


@dataclass(frozen=True)
class MessageRef:
    """A Discord message an exchange came from or was shown in (ids only: services know no Discord)."""

    channel_id: int
    message_id: int
    transcript_of: int | None = None  # the speaker, when the bot's message quotes what they said aloud


@dataclass(frozen=True)
class Forgotten:
    """What /forget-me erased: stored turns, and the bot's transcripts of the member's speech (to delete in Discord)."""

    turns: int
    transcripts: list[MessageRef]


class ConversationStore:
    def __init__(self, db: Database, *, clock: Callable[[], float] = time.time) -> None:
        self._db = db
        self._clock = clock

    async def add(self, scope_id: int, turn: Turn, *, kind: Kind = "chat", exchange_id: int | None = None) -> int:
        now = self._clock()
        async with self._db.transaction() as tx:
            cursor = await tx.execute(_INSERT, _row(scope_id, kind, turn, now, exchange_id))
            return int(cursor.lastrowid or 0)

    async def add_exchange(self, scope_id: int, prompt: Turn, answer: Turn | None = None, *, kind: Kind = "chat",
                           messages: Iterable[MessageRef] = ()) -> int:
        """Store a prompt (and its answer, if there is one yet) and the messages it is shown in, in one
        transaction; returns the exchange id (the prompt turn's id) for `add_answer` and `link`."""
        now = self._clock()
        async with self._db.transaction() as tx:
            cursor = await tx.execute(_INSERT, _row(scope_id, kind, prompt, now, None))
            exchange_id = int(cursor.lastrowid or 0)
            await tx.execute("UPDATE conversation_turns SET exchange_id = ? WHERE id = ?", (exchange_id, exchange_id))
            if answer is not None:
                arrived = prompt.arrived_at if answer.arrived_at is None else answer.arrived_at
                await tx.execute(_INSERT, _row(scope_id, kind, answer, now, exchange_id, arrived))
            await tx.executemany(_LINK, _link_rows(exchange_id, messages, now))
        return exchange_id

    async def add_answer(self, scope_id: int, answer: Turn, *, exchange_id: int, kind: Kind = "chat") -> int:
        return await self.add(scope_id, answer, kind=kind, exchange_id=exchange_id)

    async def link(self, exchange_id: int, messages: Iterable[MessageRef]) -> None:
        """More messages showing an exchange (a voice answer posted after it was stored)."""
        rows = _link_rows(exchange_id, messages, self._clock())
        if rows:
            await self._db.executemany(_LINK, rows)

    async def recent(self, scope_id: int, token_budget: int, *, kind: Kind = "chat", max_turns: int = 200) -> list[Turn]:
        """The newest turns that fit the budget, oldest first (in prompt-arrival order, so exchanges
        answered concurrently never interleave); a turn that doesn't fit stops the walk."""
        rows = await self._db.fetchall(
            "SELECT id, role, content, author_name, author_id, status, created_at, arrived_at FROM conversation_turns "
            "WHERE scope_id = ? AND kind = ? ORDER BY arrived_at DESC, id DESC LIMIT ?", (scope_id, kind, max_turns))
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

    async def clear(self, scope_id: int, *, kind: Kind = "chat") -> int:
        async with self._db.transaction() as tx:
            await tx.execute(
                "DELETE FROM conversation_messages WHERE exchange_id IN (SELECT exchange_id FROM conversation_turns "
                "WHERE scope_id = ? AND kind = ? AND exchange_id IS NOT NULL)", (scope_id, kind))
            cursor = await tx.execute("DELETE FROM conversation_turns WHERE scope_id = ? AND kind = ?", (scope_id, kind))
            return cursor.rowcount

    async def forget_messages(self, message_ids: Sequence[int]) -> int:
        """Messages were deleted in Discord: erase every exchange they came from or showed; returns turns removed."""
        removed = 0
        for start in range(0, len(message_ids), _BATCH):
            batch = list(message_ids[start:start + _BATCH])
            async with self._db.transaction() as tx:
                cursor = await tx.execute(
                    f"SELECT DISTINCT exchange_id FROM conversation_messages WHERE message_id IN ({_marks(batch)})", batch)
                exchanges = [int(r[0]) for r in await cursor.fetchall()]
                removed += await _erase_exchanges(tx, exchanges)
        return removed

    async def forget_author(self, user_id: int) -> Forgotten:
        """/forget-me: every turn the member wrote or said, everywhere, with the answers to them, and the
        transcripts of their speech (returned, so the caller can delete those messages in Discord)."""
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

    async def prune(self, older_than_days: float) -> int:
        cutoff = self._clock() - older_than_days * 86400
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
    for start in range(0, len(exchanges), _BATCH):
        batch = list(exchanges[start:start + _BATCH])
        cursor = await tx.execute(f"DELETE FROM conversation_turns WHERE exchange_id IN ({_marks(batch)})", batch)
        removed += cursor.rowcount
        await tx.execute(f"DELETE FROM conversation_messages WHERE exchange_id IN ({_marks(batch)})", batch)
    return removed


_INSERT = ("INSERT INTO conversation_turns (scope_id, kind, role, author_id, author_name, content, created_at, "
           "status, exchange_id, arrived_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")


def _row(scope_id: int, kind: Kind, turn: Turn, now: float, exchange_id: int | None,
         arrived_at: float | None = None) -> tuple[object, ...]:
    arrived = arrived_at if arrived_at is not None else turn.arrived_at
    return (scope_id, kind, turn.role, turn.author_id, turn.author_name, turn.content, now, turn.status, exchange_id,
            now if arrived is None else arrived)


_LINK = ("INSERT INTO conversation_messages (message_id, channel_id, exchange_id, transcript_of, created_at) "
         "VALUES (?, ?, ?, ?, ?) ON CONFLICT (message_id) DO NOTHING")


def _link_rows(exchange_id: int, messages: Iterable[MessageRef], now: float) -> list[tuple[int, int, int, int | None, float]]:
    return [(m.message_id, m.channel_id, exchange_id, m.transcript_of, now) for m in messages]
