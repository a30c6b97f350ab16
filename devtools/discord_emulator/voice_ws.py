"""One voice websocket connection, speaking Discord's voice gateway (v8) the way discord.py 2.7 expects.

Ops: HELLO 8 on connect; IDENTIFY 0 -> READY 2; SELECT_PROTOCOL 1 -> SESSION_DESCRIPTION 4 (+ CLIENTS_CONNECT
11 for members already there); HEARTBEAT 3 -> HEARTBEAT_ACK 6; SPEAKING 5; RESUME 7 -> RESUMED 9 and a
replay of the numbered messages the client missed.
"""

from __future__ import annotations

import json
import logging
import os
from typing import TYPE_CHECKING, Any

from aiohttp import WSMsgType, web

from devtools.discord_emulator.voice_rtp import MODE_XCHACHA
from devtools.discord_emulator.voice_session import BotSession, Heartbeat

if TYPE_CHECKING:
    from devtools.discord_emulator.voice import VoiceServer

log = logging.getLogger(__name__)

# Voice close codes (Discord's "Voice Close Event Codes").
UNKNOWN_OPCODE = 4001
DECODE_ERROR = 4002
NOT_AUTHENTICATED = 4003
AUTHENTICATION_FAILED = 4004
ALREADY_AUTHENTICATED = 4005
SESSION_INVALID = 4006
UNKNOWN_PROTOCOL = 4012
DISCONNECTED = 4014
SERVER_CRASHED = 4015
UNKNOWN_ENCRYPTION_MODE = 4016
BAD_REQUEST = 4020
E2EE_REQUIRED = 4017

IMPLEMENTED_MODES = frozenset({MODE_XCHACHA})
# Ops a client may send as JSON: the ones discord.py sends, plus CLIENT_CONNECT 12, VOICE_BACKEND_VERSION 16,
# DAVE transition ready 23 and invalid commit/welcome 31 (its binary ops 26 and 28 are in _on_binary).
CLIENT_OPS = frozenset({0, 1, 3, 5, 7, 12, 16, 23, 31})
PRE_AUTH_OPS = frozenset({0, 3, 7, 16})


class VoiceSocket:
    """The server side of one websocket; a session outlives it when the client resumes."""

    def __init__(self, server: VoiceServer, ws: web.WebSocketResponse, version: int) -> None:
        self.server = server
        self.ws = ws
        self.version = version
        self.session: BotSession | None = None

    async def run(self) -> None:
        if not 4 <= self.version <= 8:
            await self.close(UNKNOWN_PROTOCOL, f"unsupported voice gateway version {self.version}")
            return
        await self._send({"op": 8, "d": {"v": self.version, "heartbeat_interval": self.server.heartbeat_interval_ms}})
        async for msg in self.ws:
            if msg.type is WSMsgType.TEXT:
                try:
                    payload = json.loads(msg.data)
                    op, data = payload["op"], payload.get("d")
                except (ValueError, KeyError, TypeError):
                    await self.close(DECODE_ERROR, "failed to decode payload")
                    return
                await self._on_json(op, data, payload)
            elif msg.type is WSMsgType.BINARY:
                await self._on_binary(msg.data)
            if self.ws.closed:
                return

    async def close(self, code: int, reason: str) -> None:
        self.server.closes.append((code, reason))
        self.server.changed()
        log.debug("closing voice ws with %s: %s", code, reason)
        await self.ws.close(code=code, message=reason.encode())

    async def _send(self, message: dict[str, Any]) -> None:
        await self.ws.send_str(json.dumps(message))

    async def _on_json(self, op: int, data: Any, payload: dict[str, Any]) -> None:
        self.server.record_op(self.session, payload)
        if op not in CLIENT_OPS:
            await self.close(UNKNOWN_OPCODE, f"unknown opcode {op}")
        elif self.session is None and op not in PRE_AUTH_OPS:
            await self.close(NOT_AUTHENTICATED, "not authenticated")
        elif op == 0:
            await self._identify(data)
        elif op == 1:
            await self._select_protocol(data)
        elif op == 3:
            await self._heartbeat(data)
        elif op == 5:
            self._speaking(data)
        elif op == 7:
            await self._resume(data)
        elif op in (23, 31) and self.session is not None and self.session.dave is not None:
            transition_id = int((data or {}).get("transition_id", -1))
            if op == 23:
                await self.session.dave.transition_ready(transition_id)
            else:
                await self.session.dave.invalid_commit(transition_id)

    async def _on_binary(self, data: bytes) -> None:
        """DAVE's binary client ops: `op | payload` (26 key package, 28 commit + welcome)."""
        op = data[0] if data else None
        self.server.record_op(self.session, {"op": op, "binary": data})
        dave = self.session.dave if self.session is not None else None
        if dave is None:
            return
        if op == 26:
            await dave.bot_key_package(data[1:])
        elif op == 28:
            await dave.bot_commit_welcome(data[1:])

    async def _identify(self, data: dict[str, Any]) -> None:
        if self.session is not None:
            await self.close(ALREADY_AUTHENTICATED, "already authenticated")
            return
        try:
            guild_id, user_id = int(data["server_id"]), int(data["user_id"])
            session_id, token = str(data["session_id"]), str(data["token"])
        except (KeyError, TypeError, ValueError):
            await self.close(DECODE_ERROR, "identify is missing fields")
            return
        expected = self.server.expected(guild_id)
        if expected is None or expected.user_id != user_id or expected.token != token:
            await self.close(AUTHENTICATION_FAILED, "authentication failed")
            return
        if expected.session_id != session_id:
            await self.close(SESSION_INVALID, "session is no longer valid")
            return
        self.session = await self.server.open_session(expected, self, int(data.get("max_dave_protocol_version") or 0))
        await self._send({"op": 2, "d": {
            "ssrc": self.session.ssrc, "ip": self.server.host, "port": self.server.udp_port,
            "modes": list(self.server.modes), "experiments": [], "heartbeat_interval": 1,  # erroneous, as Discord's
        }})

    async def _select_protocol(self, data: dict[str, Any]) -> None:
        session = self.session
        assert session is not None
        try:
            protocol, address = data["protocol"], data["data"]
            mode, ip, port = str(address["mode"]), str(address["address"]), int(address["port"])
        except (KeyError, TypeError, ValueError):
            await self.close(DECODE_ERROR, "select protocol is missing fields")
            return
        if protocol != "udp":
            await self.close(UNKNOWN_PROTOCOL, f"unknown protocol {protocol!r}")
            return
        if mode not in self.server.modes or mode not in IMPLEMENTED_MODES:
            # aead_aes256_gcm_rtpsize is advertised like Discord does but not implemented here.
            await self.close(UNKNOWN_ENCRYPTION_MODE, f"unknown encryption mode {mode!r}")
            return
        dave_version = 0
        if self.server.dave:
            if session.max_dave_protocol_version < 1:
                await self.close(E2EE_REQUIRED, "E2EE/DAVE protocol required")
                return
            dave_version = 1
        session.mode, session.client_addr = mode, (ip, port)
        session.secret_key = os.urandom(32)
        await session.send_json(4, {
            "mode": mode, "secret_key": list(session.secret_key), "dave_protocol_version": dave_version,
            "audio_codec": "opus", "video_codec": "H264", "media_session_id": os.urandom(16).hex(),
        })
        await self.server.announce_members(session)
        if dave_version:
            await self.server.start_dave(session)

    async def _heartbeat(self, data: Any) -> None:
        if self.session is not None:
            self.session.heartbeats.append(Heartbeat(self.server.clock(), data))
        if self.version >= 8 and isinstance(data, dict):
            await self._send({"op": 6, "d": {"t": data.get("t")}})
        else:
            await self._send({"op": 6, "d": data})
        self.server.changed()

    def _speaking(self, data: dict[str, Any]) -> None:
        session = self.session
        assert session is not None
        flags = int(data.get("speaking", 0))
        if int(data.get("ssrc", session.ssrc)) != session.ssrc:
            log.warning("bot announced SSRC %s but READY gave it %s", data.get("ssrc"), session.ssrc)
        session.speaking = flags
        session.speaking_log.append((self.server.clock(), flags))
        self.server.changed()

    async def _resume(self, data: dict[str, Any]) -> None:
        if self.session is not None:
            await self.close(ALREADY_AUTHENTICATED, "already authenticated")
            return
        try:
            guild_id, session_id, token = int(data["server_id"]), str(data["session_id"]), str(data["token"])
            seq_ack = int(data.get("seq_ack", -1))
        except (KeyError, TypeError, ValueError):
            await self.close(DECODE_ERROR, "resume is missing fields")
            return
        session = self.server.session(guild_id)
        if session is None or session.expected.session_id != session_id or session.expected.token != token:
            await self.close(SESSION_INVALID, "session is no longer valid")
            return
        missed = session.missed_since(seq_ack)
        if missed is None:
            await self.close(SESSION_INVALID, f"messages after seq {seq_ack} are no longer buffered")
            return
        await self.server.resume_session(session, self)
        self.session = session
        await self._send({"op": 9, "d": None})
        for message in missed:
            if isinstance(message, str):
                await self.ws.send_str(message)
            else:
                await self.ws.send_bytes(message)
