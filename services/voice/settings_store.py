"""Per-guild voice settings (/voice), persisted so a restart keeps them; defaults come from Settings."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace

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
        """Store the given fields (others keep their value) and return the result."""
        unknown = set(changes) - set(_COLUMNS)
        if unknown:
            raise ValueError(f"unknown voice settings: {sorted(unknown)}")
        current = await self.get(guild_id)
        merged = replace(current, **changes)  # type: ignore[arg-type]
        values = [getattr(merged, c) for c in _COLUMNS]
        values = [int(v) if isinstance(v, bool) else v for v in values]
        async with self._db.transaction() as tx:
            await tx.execute(
                "INSERT INTO voice_settings (guild_id, voice, speed, rvc, listen, text_channel_id, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (guild_id) DO UPDATE SET voice = excluded.voice, "
                "speed = excluded.speed, rvc = excluded.rvc, listen = excluded.listen, "
                "text_channel_id = excluded.text_channel_id, updated_at = excluded.updated_at",
                (guild_id, *values, self._clock()))
        return merged

    async def reset(self, guild_id: int) -> None:
        await self._db.execute("DELETE FROM voice_settings WHERE guild_id = ?", (guild_id,))
