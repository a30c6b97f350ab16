"""The gateway websocket: HELLO, heartbeats, IDENTIFY/READY/GUILD_CREATE, RESUME with replay, dispatches.

Frames are plain JSON text (discord.py asks for zlib-stream but reads text frames as they come).
Each session numbers its dispatches and keeps them, so a client that reconnects and RESUMEs gets
what it missed; test controls drop connections, hold them offline and invalidate sessions.
Sessions are shards (IDENTIFY's `[shard_id, shard_count]`, see shards.py): each gets only its guilds.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import WSCloseCode, WSMsgType, web

from devtools.discord_emulator import intents as gi
from devtools.discord_emulator import payloads
from devtools.discord_emulator import shards as sharding
from devtools.discord_emulator.clock import Clock
from devtools.discord_emulator.gateway_session import (
    DISPATCH,
    HEARTBEAT,
    HEARTBEAT_ACK,
    HELLO,
    IDENTIFY,
    INVALID_SESSION,
    PRESENCE,
    RECONNECT,
    REQUEST_MEMBERS,
    RESUME,
    VOICE_STATE,
    Session,
    VoiceStateHandler,
)
from devtools.discord_emulator.records import GatewayCommand, Records
from devtools.discord_emulator.waiting import Notifier
from devtools.discord_emulator.world import Guild, World

log = logging.getLogger(__name__)

class Gateway:
    def __init__(self, world: World, token: str, clock: Clock, records: Records, notifier: Notifier, *,
                 heartbeat_interval_ms: int = 41250) -> None:
        self.world = world
        self.token = token
        self.clock = clock
        self.records = records
        self.notifier = notifier
        self.heartbeat_interval_ms = heartbeat_interval_ms
        self.url = ""  # set by the emulator once it knows its port (also READY's resume_gateway_url)
        self.sessions: list[Session] = []
        self.identifies = 0
        self.heartbeats = 0
        self.on_voice_state: VoiceStateHandler | None = None
        self._sockets: set[web.WebSocketResponse] = set()
        self._online = asyncio.Event()
        self._online.set()

    # -- test controls -----------------------------------------------------------------------------

    @property
    def live_sessions(self) -> list[Session]:
        return [s for s in self.sessions if s.resumable]

    def shard_sessions(self, shard_id: int) -> list[Session]:
        """Live sessions identified as `shard_id` (of any count)."""
        return [s for s in self.live_sessions if s.shard_id == shard_id]

    @property
    def open_sockets(self) -> int:
        return len(self._sockets)

    @property
    def connected(self) -> bool:
        return any(s.ws is not None for s in self.live_sessions)

    async def drop(self, *, code: int = 4000) -> None:
        """Close every connection as Discord does on trouble; live sessions stay resumable."""
        for session in self.sessions:
            session.ws = None
        for ws in list(self._sockets):
            await ws.close(code=code, message=b"dropped by the emulator")
        self.notifier.notify()

    @contextlib.asynccontextmanager
    async def offline(self) -> AsyncIterator[None]:
        """Drop connections and hold reconnects until the block ends; dispatches inside are buffered
        and must arrive through RESUME replay."""
        self._online.clear()
        try:
            await self.drop()
            yield
        finally:
            self._online.set()

    async def invalidate_session(self, *, resumable: bool = False) -> None:
        """Send INVALID_SESSION; with resumable=False the client must IDENTIFY again."""
        for session in self.live_sessions:
            if not resumable:
                session.resumable = False
            if session.ws is not None:
                await self._send_op(session.ws, INVALID_SESSION, resumable)
        self.notifier.notify()

    def forget_sessions(self) -> None:
        """Make every session unknown, so the next RESUME is refused with INVALID_SESSION."""
        for session in self.sessions:
            session.resumable = False

    async def request_reconnect(self) -> None:
        """Op 7 RECONNECT: the client closes and resumes."""
        for session in self.live_sessions:
            if session.ws is not None:
                await self._send_op(session.ws, RECONNECT, None)

    async def wait_for_identify(self, count: int = 1, *, timeout: float = 10.0) -> Session:
        """Wait until `count` IDENTIFYs have completed (READY and every GUILD_CREATE sent)."""
        await self.notifier.wait_for(lambda: self.identifies >= count, timeout,
                                     lambda: f"IDENTIFY number {count} (got {self.identifies})")
        return self.sessions[-1]

    async def wait_for_resume(self, count: int = 1, *, timeout: float = 10.0) -> None:
        await self.notifier.wait_for(lambda: sum(s.resumes for s in self.sessions) >= count, timeout,
                                     f"RESUME number {count}")

    async def close(self) -> None:
        self._online.set()
        for ws in list(self._sockets):
            await ws.close(code=WSCloseCode.GOING_AWAY, message=b"emulator stopping")

    # -- dispatch ----------------------------------------------------------------------------------

    async def dispatch(self, event: str, data: dict[str, Any], *, guild_id: int | None = None) -> None:
        """Send an event to every session whose shard owns the guild (DMs: shard 0) and whose intents ask
        for it (buffered while disconnected)."""
        needed = gi.required_intent(event, in_guild=guild_id is not None)
        for session in self.live_sessions:
            if not session.owns(guild_id) or (needed and not session.has(needed)):
                continue
            payload = data
            if event in ("MESSAGE_CREATE", "MESSAGE_UPDATE") and not session.has(gi.MESSAGE_CONTENT):
                payload = gi.hide_content(data, self.world.bot_user.id)
            async with session.lock:
                await self._dispatch_locked(session, event, payload)

    async def guild_available(self, guild: Guild) -> None:
        """GUILD_CREATE for a guild the bot just joined, to the shard that owns it. Unlike the READY
        flow's (a guild becoming available), it has no `unavailable` field: clients call it a join."""
        for session in self.live_sessions:
            if session.owns(guild.id) and session.has(gi.GUILDS):
                data = payloads.guild_create(self.world, guild, all_members=session.has(gi.GUILD_MEMBERS))
                del data["unavailable"]
                async with session.lock:
                    await self._dispatch_locked(session, "GUILD_CREATE", data)

    async def _dispatch_locked(self, session: Session, event: str, data: Any) -> None:
        session.seq += 1
        frame = json.dumps({"op": DISPATCH, "s": session.seq, "t": event, "d": data})
        session.sent.append((session.seq, frame))
        if session.ws is not None:
            await self._send(session.ws, frame)

    async def _send(self, ws: web.WebSocketResponse, frame: str) -> None:
        if ws.closed:
            return
        try:
            await ws.send_str(frame)
        except (ConnectionError, RuntimeError):
            log.debug("gateway frame not sent: the socket is closing; kept for replay")

    async def _send_op(self, ws: web.WebSocketResponse, op: int, data: Any) -> None:
        await self._send(ws, json.dumps({"op": op, "d": data, "s": None, "t": None}))

    # -- the websocket -----------------------------------------------------------------------------

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(max_msg_size=0)
        await ws.prepare(request)
        self._sockets.add(ws)
        session: Session | None = None
        try:
            await self._online.wait()
            await self._send_op(ws, HELLO, {"heartbeat_interval": self.heartbeat_interval_ms, "_trace": ["emu"]})
            async for msg in ws:
                if msg.type is not WSMsgType.TEXT:
                    await ws.close(code=4002, message=b"Error while decoding payload.")
                    break
                try:
                    frame = json.loads(msg.data)
                    op, data = frame["op"], frame.get("d")
                except (ValueError, KeyError, TypeError):
                    await ws.close(code=4002, message=b"Error while decoding payload.")
                    break
                session = await self._on_frame(ws, session, op, data)
        finally:
            self._sockets.discard(ws)
            if session is not None and session.ws is ws:
                session.ws = None
                if ws.close_code in (1000, 1001):
                    session.resumable = False  # a clean close ends the session, as on Discord
            self.notifier.notify()
        return ws

    async def _on_frame(self, ws: web.WebSocketResponse, session: Session | None, op: int,
                        data: Any) -> Session | None:
        if op == HEARTBEAT:
            self.heartbeats += 1
            if session is not None:
                session.heartbeats += 1
            await self._send_op(ws, HEARTBEAT_ACK, None)
            self.notifier.notify()
            return session
        self.records.gateway_commands.append(GatewayCommand(op, data, self.clock.monotonic()))
        if op == IDENTIFY:
            if session is not None:
                await ws.close(code=4005, message=b"Already authenticated.")
                return session
            return await self._identify(ws, data)
        if op == RESUME:
            return await self._resume(ws, data)
        if session is None:
            await ws.close(code=4003, message=b"Not authenticated.")
            return None
        if op == PRESENCE:
            return session
        if op in (VOICE_STATE, REQUEST_MEMBERS) and not self._owned_by(session, op, data):
            return session  # Discord ignores a guild command sent on another shard
        if op == VOICE_STATE:
            if self.on_voice_state is not None:
                await self.on_voice_state(session, data)
            return session
        if op == REQUEST_MEMBERS:
            await self._members_chunk(session, data)
            return session
        await ws.close(code=4001, message=b"Unknown opcode.")
        return session

    async def _identify(self, ws: web.WebSocketResponse, data: dict[str, Any]) -> Session | None:
        if data.get("token") != self.token:
            await ws.close(code=4004, message=b"Authentication failed.")
            return None
        intents = data.get("intents")
        if not isinstance(intents, int) or intents & ~gi.VALID:
            await ws.close(code=4013, message=b"Invalid intent(s).")
            return None
        app = self.world.application
        allowed = {gi.GUILD_MEMBERS: app.members_intent, gi.GUILD_PRESENCES: app.presences_intent,
                   gi.MESSAGE_CONTENT: app.message_content_intent}
        if any(intents & bit and not ok for bit, ok in allowed.items()):
            await ws.close(code=4014, message=b"Disallowed intent(s).")
            return None
        shard = sharding.parse_shard(data.get("shard"))
        if shard is None:
            await ws.close(code=sharding.INVALID_SHARD, message=b"Invalid shard.")
            return None
        guilds = self.world.guilds_on_shard(*shard)
        if len(guilds) > self.world.max_guilds_per_shard:
            await ws.close(code=sharding.SHARDING_REQUIRED, message=b"Sharding required.")
            return None
        session = Session(self.world.new_session_id(), intents, self.clock.monotonic(), ws=ws, shard=shard)
        async with session.lock:
            self.sessions.append(session)
            await self._dispatch_locked(session, "READY", payloads.ready(
                self.world, session.id, self.url, guilds, session.shard if "shard" in data else None))
            for guild in guilds:
                await self._dispatch_locked(session, "GUILD_CREATE", payloads.guild_create(
                    self.world, guild, all_members=session.has(gi.GUILD_MEMBERS)))
            session.ready = True
        self.identifies += 1
        self.notifier.notify()
        return session

    def _owned_by(self, session: Session, op: int, data: Any) -> bool:
        guild_id = int(data.get("guild_id") or 0) if isinstance(data, dict) else 0
        if not guild_id or session.owns(guild_id):
            return True
        self.records.problems.append(
            f"gateway op {op} for guild {guild_id} sent on shard {list(session.shard)}, which does not own it "
            f"(shard {sharding.shard_of(guild_id, session.shard[1])} does): Discord ignores it")
        return False

    async def _resume(self, ws: web.WebSocketResponse, data: dict[str, Any]) -> Session | None:
        if data.get("token") != self.token:
            await ws.close(code=4004, message=b"Authentication failed.")
            return None
        session = next((s for s in self.live_sessions if s.id == data.get("session_id")), None)
        if session is None:
            await self._send_op(ws, INVALID_SESSION, False)
            return None
        last_seen = data.get("seq") or 0
        async with session.lock:
            old, session.ws = session.ws, ws
            if old is not None and old is not ws:
                await old.close(code=4000)
            for seq, frame in list(session.sent):
                if seq > last_seen:
                    await self._send(ws, frame)
            await self._dispatch_locked(session, "RESUMED", {"_trace": ["emu"]})
        session.resumes += 1
        self.notifier.notify()
        return session

    async def _members_chunk(self, session: Session, data: dict[str, Any]) -> None:
        guild = self.world.guilds.get(int(data.get("guild_id", 0)))
        if guild is None:
            return
        chunk: dict[str, Any] = {
            "guild_id": str(guild.id), "members": [payloads.member(m) for m in guild.members.values()],
            "chunk_index": 0, "chunk_count": 1, "not_found": [],
        }
        if data.get("nonce"):
            chunk["nonce"] = data["nonce"]
        async with session.lock:
            await self._dispatch_locked(session, "GUILD_MEMBERS_CHUNK", chunk)
