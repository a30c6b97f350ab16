"""Conversation memory per scope (channel, thread, DM, voice channel); survives restarts.

`ConversationStore` is the contract and the token-budget walk both backends share; the backends
(services/storage/sqlite/conversations.py, services/storage/postgres/conversations.py) hold only SQL.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass

from services.llm.base import Message, estimate_message_tokens


@dataclass(frozen=True)
class Turn:
    role: str                  # "user" or "assistant"
    content: str
    author_name: str | None = None
    author_id: int | None = None
    status: str = "complete"   # "interrupted" when an answer was cut off (barge-in, shutdown)
    id: int | None = None
    created_at: float = 0.0

    def to_message(self) -> Message:
        """As the model sees it: user turns carry their speaker's name."""
        if self.role == "user":
            return Message("user", self.content, self.author_name)
        return Message("assistant", self.content)

    @property
    def tokens(self) -> int:
        return estimate_message_tokens(self.to_message())


class ConversationStore(ABC):
    def __init__(self, *, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock

    # --- SQL, one implementation per backend ---------------------------------------------------

    @abstractmethod
    async def _insert(self, scope_id: int, turn: Turn, created_at: float) -> int:
        """Store one turn; return its id (ids grow with time within a scope)."""

    @abstractmethod
    async def _newest(self, scope_id: int, limit: int) -> list[Turn]:
        """Up to `limit` turns of the scope, newest first."""

    @abstractmethod
    async def clear(self, scope_id: int) -> int: ...

    @abstractmethod
    async def _prune(self, cutoff: float) -> int:
        """Delete turns created before `cutoff`, in small batches."""

    @abstractmethod
    async def count(self, scope_id: int) -> int: ...

    # --- shared logic ----------------------------------------------------------------------------

    async def add(self, scope_id: int, turn: Turn) -> int:
        return await self._insert(scope_id, turn, self._clock())

    async def recent(self, scope_id: int, token_budget: int, *, max_turns: int = 200) -> list[Turn]:
        """The newest turns that fit the budget, oldest first; a turn that doesn't fit stops the walk."""
        turns: list[Turn] = []
        used = 0
        for turn in await self._newest(scope_id, max_turns):
            if used + turn.tokens > token_budget:
                break
            used += turn.tokens
            turns.append(turn)
        turns.reverse()
        return turns

    async def prune(self, older_than_days: float) -> int:
        return await self._prune(self._clock() - older_than_days * 86400)
