"""Members who opted out of being heard in voice (/voice-optout), in every server.

The voice session asks before it lets a member's audio through (receive.py drops the audio of
anyone not let through, before decoding), so the store is read when a member joins the call.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from services.storage.db import Database


class VoiceOptOutStore:
    def __init__(self, db: Database, *, clock: Callable[[], float] = time.time) -> None:
        self._db = db
        self._clock = clock

    async def opted_out(self, user_ids: Iterable[int]) -> set[int]:
        """Which of these users opted out."""
        ids = list(dict.fromkeys(user_ids))
        if not ids:
            return set()
        rows = await self._db.fetchall(
            f"SELECT user_id FROM voice_optouts WHERE user_id IN ({', '.join('?' for _ in ids)})", ids)
        return {int(r[0]) for r in rows}

    async def set(self, user_id: int, *, opted_out: bool) -> bool:
        """Opt out (or back in); False when that was already the case."""
        if opted_out:
            changed = await self._db.execute(
                "INSERT INTO voice_optouts (user_id, created_at) VALUES (?, ?) ON CONFLICT (user_id) DO NOTHING",
                (user_id, self._clock()))
        else:
            changed = await self._db.execute("DELETE FROM voice_optouts WHERE user_id = ?", (user_id,))
        return changed > 0
