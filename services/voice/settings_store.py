"""Per-guild voice settings (/voice), persisted so a restart keeps them; defaults come from Settings."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, fields

from services.storage.db import Database

_COLUMNS = ("voice", "speed", "rvc", "listen", "text_channel_id", "address", "wake_word", "memory")
_BOOLS = ("rvc", "listen")
MEMORY_CHOICES = ("shared", "separate")


@dataclass(frozen=True)
class GuildVoiceSettings:
    """What one guild chose; `text_channel_id` None means "the call's own text chat".

    `address`: always | name | wake (services/voice/addressing.py). `memory`: "separate" gives the call
    a memory of its own (kind "voice"); "shared" keeps it in the text chat memory of the channel the call
    writes in, so /chat there and the call are one conversation (services/voice/memory.py).
    """

    voice: str
    speed: float
    rvc: bool
    listen: bool
    text_channel_id: int | None = None
    address: str = "always"
    wake_word: str = ""
    memory: str = "separate"


class VoiceSettingsStore:
    """Reads and writes rows of voice_settings; only the columns a guild changed are non-NULL."""

    def __init__(self, db: Database, defaults: GuildVoiceSettings, *, clock: Callable[[], float] = time.time) -> None:
        self._db = db
        self.defaults = defaults
        self._clock = clock

    async def get(self, guild_id: int) -> GuildVoiceSettings:
        row = await self._db.fetchone(
            f"SELECT {', '.join(_COLUMNS)} FROM voice_settings WHERE guild_id = ?", (guild_id,))
        if row is None:
            return self.defaults
        chosen = {c: (bool(row[c]) if c in _BOOLS else row[c]) for c in _COLUMNS if row[c] is not None}
        d = self.defaults
        return GuildVoiceSettings(**{f.name: chosen.get(f.name, getattr(d, f.name)) for f in fields(d)})

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
