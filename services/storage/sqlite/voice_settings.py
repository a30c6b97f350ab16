"""voice_settings rows in SQLite (booleans stored as 0/1)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from services.storage.db import Database
from services.voice.settings_store import COLUMNS, GuildVoiceSettings, VoiceSettingsStore


class SqliteVoiceSettingsStore(VoiceSettingsStore):
    def __init__(self, db: Database, defaults: GuildVoiceSettings, *, clock: Callable[[], float] = time.time) -> None:
        super().__init__(defaults, clock=clock)
        self._db = db

    async def _read(self, guild_id: int) -> dict[str, Any] | None:
        row = await self._db.fetchone(f"SELECT {', '.join(COLUMNS)} FROM voice_settings WHERE guild_id = ?",
                                      (guild_id,))
        return None if row is None else dict(row)

    async def _write(self, guild_id: int, changes: dict[str, object], updated_at: float) -> None:
        columns = list(changes)
        values = [int(v) if isinstance(v, bool) else v for v in changes.values()]
        assignments = ", ".join(f"{c} = excluded.{c}" for c in columns)
        await self._db.execute(
            f"INSERT INTO voice_settings (guild_id, {', '.join(columns)}, updated_at) "
            f"VALUES (?, {', '.join('?' for _ in columns)}, ?) "
            f"ON CONFLICT (guild_id) DO UPDATE SET {assignments}, updated_at = excluded.updated_at",
            (guild_id, *values, updated_at))

    async def reset(self, guild_id: int) -> None:
        await self._db.execute("DELETE FROM voice_settings WHERE guild_id = ?", (guild_id,))
