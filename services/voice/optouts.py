"""Members who opted out of being heard in voice (/voice-optout), in every server.

The voice session asks before it lets a member's audio through (receive.py drops the audio of
anyone not let through, before decoding), so the store is read when a member joins the call.
The backends (services/storage/sqlite/optouts.py, services/storage/postgres/optouts.py) hold the SQL.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable


class VoiceOptOutStore(ABC):
    def __init__(self, *, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock

    @abstractmethod
    async def _opted_out(self, user_ids: list[int]) -> set[int]: ...

    @abstractmethod
    async def _add(self, user_id: int, created_at: float) -> int:
        """Insert the row unless present; the rows inserted."""

    @abstractmethod
    async def _remove(self, user_id: int) -> int: ...

    async def opted_out(self, user_ids: Iterable[int]) -> set[int]:
        """Which of these users opted out."""
        ids = list(dict.fromkeys(user_ids))
        return await self._opted_out(ids) if ids else set()

    async def set(self, user_id: int, *, opted_out: bool) -> bool:
        """Opt out (or back in); False when that was already the case."""
        changed = await self._add(user_id, self._clock()) if opted_out else await self._remove(user_id)
        return changed > 0
