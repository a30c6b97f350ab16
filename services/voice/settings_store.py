"""Per-guild voice settings (/voice), persisted so a restart keeps them; defaults come from Settings.

`VoiceSettingsStore` is the contract and the merging with defaults; the backends hold only SQL.
"""

from __future__ import annotations

import dataclasses
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

# The one list of stored columns (each a GuildVoiceSettings field of the same name): a new setting
# is a field, a name here (and in BOOLEANS if it is one), and a migration in each migrations folder.
COLUMNS = ("voice", "speed", "rvc", "listen", "text_channel_id", "address", "wake_word", "memory")
MEMORY_CHOICES = ("shared", "separate")
BOOLEANS = frozenset({"rvc", "listen"})  # 0/1 in SQLite, boolean in PostgreSQL


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


class VoiceSettingsStore(ABC):
    """One row per guild; only the columns a guild changed are set, the others follow the defaults."""

    def __init__(self, defaults: GuildVoiceSettings, *, clock: Callable[[], float] = time.time) -> None:
        self.defaults = defaults
        self._clock = clock

    # --- SQL, one implementation per backend ---------------------------------------------------

    @abstractmethod
    async def _read(self, guild_id: int) -> dict[str, Any] | None:
        """The guild's stored columns (None for those it did not choose), or None without a row."""

    @abstractmethod
    async def _write(self, guild_id: int, changes: dict[str, object], updated_at: float) -> None:
        """Upsert only the given columns (names from COLUMNS, values as Python types)."""

    @abstractmethod
    async def reset(self, guild_id: int) -> None: ...

    # --- shared logic ----------------------------------------------------------------------------

    async def get(self, guild_id: int) -> GuildVoiceSettings:
        row = await self._read(guild_id)
        if row is None:
            return self.defaults
        chosen = {c: bool(row[c]) if c in BOOLEANS else row[c] for c in COLUMNS if row[c] is not None}
        return dataclasses.replace(self.defaults, **chosen)

    async def update(self, guild_id: int, **changes: object) -> GuildVoiceSettings:
        """Store the fields the guild chose; the others stay unset and keep following the defaults."""
        unknown = set(changes) - set(COLUMNS)
        if unknown:
            raise ValueError(f"unknown voice settings: {sorted(unknown)}")
        if changes:
            await self._write(guild_id, {c: changes[c] for c in COLUMNS if c in changes}, self._clock())
        return await self.get(guild_id)
