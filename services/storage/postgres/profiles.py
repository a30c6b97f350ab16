"""chat_profiles rows in PostgreSQL."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from config.settings import ModelRef
from services.chat.profiles import ChatProfileStore, Column, Scope
from services.storage.postgres.database import PgDatabase


class PostgresChatProfileStore(ChatProfileStore):
    def __init__(self, db: PgDatabase, *, default_persona: str, default_chain: Sequence[ModelRef],
                 providers: Sequence[str], clock: Callable[[], float] = time.time) -> None:
        super().__init__(default_persona=default_persona, default_chain=default_chain, providers=providers,
                         clock=clock)
        self._db = db

    async def forget_guild(self, guild_id: int) -> int:
        return await self._db.execute("DELETE FROM chat_profiles WHERE guild_id = $1", guild_id)

    async def _value(self, column: Column, scope: Scope, scope_id: int) -> str | None:
        return await self._db.fetchval(f"SELECT {column} FROM chat_profiles WHERE scope = $1 AND scope_id = $2",
                                       scope, scope_id)

    async def _upsert(self, scope: Scope, scope_id: int, guild_id: int, column: Column, value: str | None,
                      by: int, updated_at: float) -> None:
        async with self._db.transaction() as conn:
            await conn.execute(
                f"INSERT INTO chat_profiles (scope, scope_id, guild_id, {column}, updated_by, updated_at) "
                f"VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (scope, scope_id) DO UPDATE "
                f"SET {column} = excluded.{column}, updated_by = excluded.updated_by, updated_at = excluded.updated_at",
                scope, scope_id, guild_id, value, by, updated_at)
            await conn.execute("DELETE FROM chat_profiles WHERE guild_id = $1 AND persona IS NULL "
                               "AND model_chain IS NULL", guild_id)
