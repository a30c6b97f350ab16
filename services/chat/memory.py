"""Conversation memory per scope (channel, thread, DM, voice channel); survives restarts.

A scope is a channel id plus a kind: a voice channel's spoken conversation ("voice") is kept apart
from the text chat of the same channel id ("chat"). A prompt and its answer form an exchange, linked
to the Discord messages it came from or was shown in, so deleting a message, or /forget-me, erases
what was kept of it.

`ConversationStore` is the contract and the token-budget walk both backends share; the backends
(services/storage/sqlite/conversations.py, services/storage/postgres/conversations.py) hold only SQL.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from services.llm.base import Message, estimate_message_tokens

Kind = Literal["chat", "voice"]
BATCH = 500  # ids per statement: far below SQLite's variable limit


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


TurnRow = tuple[int, str, str, int | None, str | None, str, float, str, int | None, float]
LinkRow = tuple[int, int, int, int | None, float]


class ConversationStore(ABC):
    def __init__(self, *, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock

    # --- SQL, one implementation per backend ---------------------------------------------------

    @abstractmethod
    async def _insert(self, row: TurnRow) -> int:
        """Store one turn (a `turn_row`); return its id (ids grow with time)."""

    @abstractmethod
    async def _insert_exchange(self, prompt: TurnRow, answer: TurnRow | None, links: list[LinkRow]) -> int:
        """In one transaction: the prompt (its exchange id is its own id), the answer and the links."""

    @abstractmethod
    async def _link(self, rows: list[LinkRow]) -> None:
        """Insert message links, ignoring a message already linked."""

    @abstractmethod
    async def _newest(self, scope_id: int, kind: Kind, limit: int) -> list[Turn]:
        """Up to `limit` turns of the scope, latest arrival first (then newest id first)."""

    @abstractmethod
    async def clear(self, scope_id: int, *, kind: Kind = "chat") -> int: ...

    @abstractmethod
    async def forget_messages(self, message_ids: Sequence[int]) -> int:
        """Messages were deleted in Discord: erase every exchange they came from or showed; returns turns removed."""

    @abstractmethod
    async def forget_author(self, user_id: int) -> Forgotten:
        """/forget-me: every turn the member wrote or said, everywhere, with the answers to them, and the
        transcripts of their speech (returned, so the caller can delete those messages in Discord)."""

    @abstractmethod
    async def _prune(self, cutoff: float) -> int:
        """Delete turns and message links created before `cutoff`, in small batches; returns turns removed."""

    @abstractmethod
    async def count(self, scope_id: int, *, kind: Kind = "chat") -> int: ...

    # --- shared logic ----------------------------------------------------------------------------

    async def add(self, scope_id: int, turn: Turn, *, kind: Kind = "chat", exchange_id: int | None = None) -> int:
        return await self._insert(turn_row(scope_id, kind, turn, self._clock(), exchange_id))

    async def add_exchange(self, scope_id: int, prompt: Turn, answer: Turn | None = None, *, kind: Kind = "chat",
                           messages: Iterable[MessageRef] = ()) -> int:
        """Store a prompt (and its answer, if there is one yet) and the messages it is shown in, in one
        transaction; returns the exchange id (the prompt turn's id) for `add_answer` and `link`."""
        now = self._clock()
        answer_row = None
        if answer is not None:
            arrived = prompt.arrived_at if answer.arrived_at is None else answer.arrived_at
            answer_row = turn_row(scope_id, kind, answer, now, None, arrived)
        return await self._insert_exchange(turn_row(scope_id, kind, prompt, now, None), answer_row,
                                           link_rows(0, messages, now))

    async def add_answer(self, scope_id: int, answer: Turn, *, exchange_id: int, kind: Kind = "chat") -> int:
        return await self.add(scope_id, answer, kind=kind, exchange_id=exchange_id)

    async def link(self, exchange_id: int, messages: Iterable[MessageRef]) -> None:
        """More messages showing an exchange (a voice answer posted after it was stored)."""
        rows = link_rows(exchange_id, messages, self._clock())
        if rows:
            await self._link(rows)

    async def recent(self, scope_id: int, token_budget: int, *, kind: Kind = "chat", max_turns: int = 200) -> list[Turn]:
        """The newest turns that fit the budget, oldest first (in prompt-arrival order, so exchanges
        answered concurrently never interleave); a turn that doesn't fit stops the walk."""
        turns: list[Turn] = []
        used = 0
        for turn in await self._newest(scope_id, kind, max_turns):
            if used + turn.tokens > token_budget:
                break
            used += turn.tokens
            turns.append(turn)
        turns.reverse()
        return turns

    async def prune(self, older_than_days: float) -> int:
        return await self._prune(self._clock() - older_than_days * 86400)


def turn_row(scope_id: int, kind: Kind, turn: Turn, now: float, exchange_id: int | None,
             arrived_at: float | None = None) -> TurnRow:
    """Columns in the order of both backends' INSERT: scope_id, kind, role, author_id, author_name,
    content, created_at, status, exchange_id, arrived_at."""
    arrived = arrived_at if arrived_at is not None else turn.arrived_at
    return (scope_id, kind, turn.role, turn.author_id, turn.author_name, turn.content, now, turn.status, exchange_id,
            now if arrived is None else arrived)


def link_rows(exchange_id: int, messages: Iterable[MessageRef], now: float) -> list[LinkRow]:
    """Columns: message_id, channel_id, exchange_id, transcript_of, created_at."""
    return [(m.message_id, m.channel_id, exchange_id, m.transcript_of, now) for m in messages]


def with_exchange(rows: list[LinkRow], exchange_id: int) -> list[LinkRow]:
    return [(r[0], r[1], exchange_id, r[3], r[4]) for r in rows]
