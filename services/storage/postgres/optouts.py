"""voice_optouts rows in PostgreSQL."""

from __future__ import annotations

import time
from collections.abc import Callable

from services.storage.postgres.database import PgDatabase
from services.voice.optouts import VoiceOptOutStore


class PostgresVoiceOptOutStore(VoiceOptOutStore):
    def __init__(self, db: PgDatabase, *, clock: Callable[[], float] = time.time) -> None:
        super().__init__(clock=clock)
        self._db = db

    async def _opted_out(self, user_ids: list[int]) -> set[int]:
        rows = await self._db.fetch("SELECT user_id FROM voice_optouts WHERE user_id = ANY($1::bigint[])", user_ids)
        return {int(r[0]) for r in rows}

    async def _add(self, user_id: int, created_at: float) -> int:
        return await self._db.execute(
            "INSERT INTO voice_optouts (user_id, created_at) VALUES ($1, $2) ON CONFLICT (user_id) DO NOTHING",
            user_id, created_at)

    async def _remove(self, user_id: int) -> int:
        return await self._db.execute("DELETE FROM voice_optouts WHERE user_id = $1", user_id)
