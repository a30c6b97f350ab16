"""Per-guild voice settings (/voice), persisted so a restart keeps them; defaults come from Settings."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from services.storage.db import Database

_COLUMNS = ("voice", "speed", "rvc", "listen", "text_channel_id")


@dataclass(frozen=True)
class GuildVoiceSettings:
    """What one guild chose; `text_channel_id` None means "the channel /join was used in"."""

    voice: str
    speed: float
    rvc: bool
    listen: bool
    text_channel_id: int | None = None


class VoiceSettingsStore:
    """Reads and writes rows of voice_settings; only the columns a guild changed are non-NULL."""

    def __init__(self, db: Database, defaults: GuildVoiceSettings, *, clock: Callable[[], float] = time.time) -> None:
        self._db = db
        self.defaults = defaults
        self._clock = clock

    async def get(self, guild_id: int) -> GuildVoiceSettings:
        row = await self._db.fetchone(
            "SELECT voice, speed, rvc, listen, text_channel_id FROM voice_settings WHERE guild_id = ?", (guild_id,))
        if row is None:
            return self.defaults
        d = self.defaults
        return GuildVoiceSettings(
            voice=row["voice"] if row["voice"] is not None else d.voice,
            speed=row["speed"] if row["speed"] is not None else d.speed,
            rvc=bool(row["rvc"]) if row["rvc"] is not None else d.rvc,
            listen=bool(row["listen"]) if row["listen"] is not None else d.listen,
            text_channel_id=row["text_channel_id"] if row["text_channel_id"] is not None else d.text_channel_id,
        )

    async def update(self, guild_id: int, **changes: object) -> GuildVoiceSettings:
        """Store the fields the guild chose; the others stay unset and keep following the defaults."""
        unknown = set(changes) - set(_COLUMNS)
        if unknown:
            raise ValueError(f"unknown voice settings: {sorted(unknown)}")
        if changes:
            columns = [c for c in _COLUMNS if c in changes]
            values = [int(v) if isinstance(v, bool) else v for v in (changes[c] for c in columns)]
            assignments = ", ".join(f"{c} = excluded.{c}" for c in columns)
            async with self._db.transaction() as tx:
                await tx.execute(
                    f"INSERT INTO voice_settings (guild_id, {', '.join(columns)}, updated_at) "
                    f"VALUES (?, {', '.join('?' for _ in columns)}, ?) "
                    f"ON CONFLICT (guild_id) DO UPDATE SET {assignments}, updated_at = excluded.updated_at",
                    (guild_id, *values, self._clock()))
        return await self.get(guild_id)

    async def reset(self, guild_id: int) -> None:
        await self._db.execute("DELETE FROM voice_settings WHERE guild_id = ?", (guild_id,))
