"""chat_profiles rows in SQLite."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from config.settings import ModelRef
from services.chat.profiles import ChatProfileStore, Column, Scope
from services.storage.db import Database


class SqliteChatProfileStore(ChatProfileStore):
    def __init__(self, db: Database, *, default_persona: str, default_chain: Sequence[ModelRef],
                 providers: Sequence[str], clock: Callable[[], float] = time.time) -> None:
        super().__init__(default_persona=default_persona, default_chain=default_chain, providers=providers,
                         clock=clock)
        self._db = db

    async def forget_guild(self, guild_id: int) -> int:
        return await self._db.execute("DELETE FROM chat_profiles WHERE guild_id = ?", (guild_id,))

    async def _value(self, column: Column, scope: Scope, scope_id: int) -> str | None:
        row = await self._db.fetchone(f"SELECT {column} FROM chat_profiles WHERE scope = ? AND scope_id = ?",
                                      (scope, scope_id))
        return None if row is None else row[0]

    async def _upsert(self, scope: Scope, scope_id: int, guild_id: int, column: Column, value: str | None,
                      by: int, updated_at: float) -> None:
        async with self._db.transaction() as tx:
            await tx.execute(
                f"INSERT INTO chat_profiles (scope, scope_id, guild_id, {column}, updated_by, updated_at) "
                f"VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (scope, scope_id) DO UPDATE SET {column} = excluded.{column}, "
                "updated_by = excluded.updated_by, updated_at = excluded.updated_at",
                (scope, scope_id, guild_id, value, by, updated_at))
            await tx.execute("DELETE FROM chat_profiles WHERE persona IS NULL AND model_chain IS NULL")
