"""Gateway opcodes and one identified session: its intents, its shard, its numbered dispatches kept
for RESUME replay."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from devtools.discord_emulator import shards as sharding

DISPATCH, HEARTBEAT, IDENTIFY, PRESENCE, VOICE_STATE, RESUME, RECONNECT = 0, 1, 2, 3, 4, 6, 7
REQUEST_MEMBERS, INVALID_SESSION, HELLO, HEARTBEAT_ACK = 8, 9, 10, 11
REPLAY_BUFFER = 2000

VoiceStateHandler = Callable[["Session", dict[str, Any]], Awaitable[None]]


@dataclass(eq=False)
class Session:
    """One identified gateway session; survives reconnects until invalidated."""

    id: str
    intents: int
    identified_at: float
    ws: web.WebSocketResponse | None = None
    shard: sharding.Shard = (0, 1)
    seq: int = 0
    resumable: bool = True
    resumes: int = 0
    heartbeats: int = 0
    ready: bool = False  # READY and every GUILD_CREATE of the IDENTIFY sent
    sent: deque[tuple[int, str]] = field(default_factory=lambda: deque(maxlen=REPLAY_BUFFER))
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def has(self, intent: int) -> bool:
        return bool(self.intents & intent)

    @property
    def shard_id(self) -> int:
        return self.shard[0]

    def owns(self, guild_id: int | None) -> bool:
        """Whether this session's shard receives the guild's events (DMs: shard 0)."""
        return sharding.shard_of(guild_id, self.shard[1]) == self.shard[0]
