"""The emulator's voice server: Discord's voice websocket (TLS) and UDP media endpoint on 127.0.0.1.

The gateway emulator calls `expect_session` when the bot asks to join a channel and puts `endpoint`
in VOICE_SERVER_UPDATE; tests then make humans join (`add_user`), talk to the bot (`speak`) and
read what the bot said (`received_pcm`, `wait_for_audio`, `packets_from_bot`). Transport encryption
is aead_xchacha20_poly1305_rtpsize. DAVE is off (dave_protocol_version 0) unless `dave=True`: then
the server plays Discord's part of the E2EE protocol (voice_dave.py), refuses clients without it
(4017) and the humans encrypt and decrypt frames with their own DAVE sessions.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
import logging
import random
import ssl
from collections.abc import Callable, Collection, Sequence
from typing import Any, TypeVar

from aiohttp import web
from discord import opus

from devtools.discord_emulator.audio import FRAME_SECONDS, RATE, split_frames, to_discord_pcm
from devtools.discord_emulator.voice_rtp import (
    DEFAULT_EXTENSION,
    MODE_XCHACHA,
    OPUS_PAYLOAD_TYPE,
    OPUS_SILENCE,
    SAMPLES_PER_FRAME,
    VIDEO_PAYLOAD_TYPE,
    PacketError,
    build_discovery_reply,
    build_rtcp_sender_report,
    build_rtp,
    is_discovery,
    is_rtcp,
    parse_discovery,
    parse_rtp,
)
from devtools.discord_emulator.voice_session import (
    FRAME_BYTES,
    BotPacket,
    BotSession,
    Expected,
    GuildVoice,
    Member,
)
from devtools.discord_emulator.voice_ws import DISCONNECTED, VoiceSocket
from devtools.discord_emulator.waiting import Notifier

log = logging.getLogger(__name__)
T = TypeVar("T")

# What Discord advertises: discord.py must skip the AES-GCM mode it does not know.
DISCORD_MODES = ("aead_aes256_gcm_rtpsize", MODE_XCHACHA)


class _Udp(asyncio.DatagramProtocol):
    def __init__(self, server: VoiceServer) -> None:
        self.server = server

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.server._on_datagram(data, addr)


class VoiceServer:
    """One emulated Discord voice server shared by every guild of a test."""

    def __init__(self, ssl_context: ssl.SSLContext, *, host: str = "127.0.0.1", heartbeat_interval_ms: float = 13750.0,
                 modes: Sequence[str] = DISCORD_MODES, dave: bool = False) -> None:
        self.ssl_context = ssl_context
        self.dave = dave
        self.host = host
        self.heartbeat_interval_ms = heartbeat_interval_ms
        self.modes = tuple(modes)
        self.endpoint = ""
        self.udp_port = 0
        self.closes: list[tuple[int, str]] = []  # (code, reason) of every websocket the server closed
        self.ops_received: list[tuple[int | None, dict[str, Any]]] = []  # (guild_id, payload)
        self.unknown_datagrams = 0
        self._guilds: dict[int, GuildVoice] = {}
        self._expected: dict[int, Expected] = {}
        self._ended: dict[int, BotSession] = {}
        self._ssrcs = itertools.count(1001)
        self._changes = Notifier()
        self._tasks: set[asyncio.Task[None]] = set()
        self._sockets: set[web.WebSocketResponse] = set()
        self._runner: web.AppRunner | None = None
        self._udp: asyncio.DatagramTransport | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        app = web.Application()
        app.router.add_get("/", self._handle_ws)
        self._runner = web.AppRunner(app, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, 0, ssl_context=self.ssl_context)
        await site.start()
        port = self._runner.addresses[0][1]
        self.endpoint = f"{self.host}:{port}"
        self._udp, _ = await self._loop.create_datagram_endpoint(lambda: _Udp(self), local_addr=(self.host, 0))
        self.udp_port = self._udp.get_extra_info("sockname")[1]

    async def stop(self) -> None:
        for ws in list(self._sockets):
            with contextlib.suppress(TimeoutError, ConnectionResetError):
                async with asyncio.timeout(1):  # a client that never answers the close must not stall teardown
                    await ws.close(code=1001, message=b"voice server stopping")
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._udp is not None:
            self._udp.close()
        if self._runner is not None:
            await self._runner.cleanup()

    async def __aenter__(self) -> VoiceServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def clock(self) -> float:
        assert self._loop is not None, "start() the voice server first"
        return self._loop.time()

    # -- gateway side ------------------------------------------------------------------------

    def expect_session(self, *, guild_id: int, channel_id: int, user_id: int, session_id: str, token: str) -> None:
        """The bot was told (VOICE_STATE_UPDATE + VOICE_SERVER_UPDATE) to connect with these credentials."""
        self._expected[guild_id] = Expected(guild_id, channel_id, user_id, session_id, token)
        self._guild(guild_id)

    def end_session(self, guild_id: int, user_id: int) -> None:
        """The bot left the channel: forget its credentials and close its voice websocket (4014)."""
        expected = self._expected.get(guild_id)
        if expected is not None and expected.user_id == user_id:
            del self._expected[guild_id]
        guild = self._guilds.get(guild_id)
        if guild is None or guild.session is None or guild.session.expected.user_id != user_id:
            return
        session, guild.session = guild.session, None
        self._ended[guild_id] = session
        if session.ws is not None and not session.ws.closed:
            self._spawn(self._close_ws(session.ws, DISCONNECTED, "disconnected"))
        self.changed()

    async def wait_ended(self, guild_id: int, *, timeout: float = 5.0) -> None:
        """Wait until the websocket of the session `end_session` ended is gone.

        A gateway should dispatch the bot's own VOICE_STATE_UPDATE (channel_id null) only after this:
        when it comes first, discord.py 2.7.1 takes its own close (1000) for an unexpected one,
        disconnects a second time and `VoiceClient.disconnect()` waits out its whole timeout.
        """
        session = self._ended.get(guild_id)
        if session is not None:
            await self.wait_for(lambda: session.ws is None, timeout=timeout,
                                what=f"the ended voice session of guild {guild_id} to close")

    async def close_connection(self, guild_id: int, code: int = 4015, reason: str = "voice server crashed") -> None:
        """Close the bot's voice websocket (e.g. 4015 to make it resume); its session stays resumable."""
        session = self.session(guild_id)
        if session is not None and session.ws is not None:
            await self._close_ws(session.ws, code, reason)

    async def add_user(self, guild_id: int, channel_id: int, user_id: int) -> int:
        """A human joins a voice channel; the bot's connection in that channel gets CLIENTS_CONNECT."""
        guild = self._guild(guild_id)
        if user_id in guild.members:
            await self.remove_user(guild_id, user_id)
        ssrc = next(self._ssrcs)
        rng = random.Random(ssrc)
        guild.members[user_id] = Member(user_id, channel_id, ssrc, rng.randrange(1 << 16), rng.randrange(1 << 32))
        session = guild.session
        if session is not None and session.ready and session.expected.channel_id == channel_id:
            await self._announce(session, [user_id])
            if session.dave is not None:
                await session.dave.human_joined(user_id)
        return ssrc

    async def remove_user(self, guild_id: int, user_id: int) -> None:
        guild = self._guild(guild_id)
        member = guild.members.pop(user_id, None)
        session = guild.session
        if member is not None and session is not None and session.ready and session.expected.channel_id == member.channel_id:
            await session.send_json(13, {"user_id": str(user_id)}, sequenced=True)
            if session.dave is not None:
                await session.dave.human_left(user_id)

    # -- media to the bot ----------------------------------------------------------------------

    async def speak(self, guild_id: int, user_id: int, pcm: bytes, *, sample_rate: int = RATE, channels: int = 2,
                    extension: bytes | None = DEFAULT_EXTENSION, silence_frames: int = 5,
                    drop: Collection[int] = (), swap: Collection[int] = ()) -> None:
        """SPEAKING for the user, then its audio as opus in encrypted RTP, one packet every 20 ms,
        then `silence_frames` opus silence frames, as a Discord client talks.

        A lossy network, for jitter tests: packets whose index is in `drop` are never sent (their
        sequence numbers are used, as when a router drops them), and packet i of `swap` is sent
        after packet i + 1 (reordered in flight)."""
        session, member = self._talking(guild_id, user_id)
        pcm = await to_discord_pcm(pcm, sample_rate=sample_rate, channels=channels)
        encoder = opus.Encoder(application="voip")  # in-band FEC on, as Discord clients encode
        payloads = [encoder.encode(frame, SAMPLES_PER_FRAME) for frame in split_frames(pcm)]
        payloads += [OPUS_SILENCE] * silence_frames
        order = list(range(len(payloads)))
        for i in sorted(swap):
            if i + 1 < len(order):
                order[i], order[i + 1] = order[i + 1], order[i]
        async with member.lock:
            await session.send_json(5, {"user_id": str(user_id), "ssrc": member.ssrc, "speaking": 1}, sequenced=True)
            first_sequence, first_timestamp = member.sequence, member.timestamp
            member.sequence = (member.sequence + len(payloads)) & 0xFFFF
            member.timestamp = (member.timestamp + len(payloads) * SAMPLES_PER_FRAME) & 0xFFFFFFFF
            start = self.clock()
            for slot, index in enumerate(order):
                delay = start + slot * FRAME_SECONDS - self.clock()
                if delay > 0:
                    await asyncio.sleep(delay)
                payload = payloads[index]
                if session.dave is not None:
                    payload = session.dave.seal_human_frame(user_id, payload)
                if index in drop:
                    self._guild(guild_id).dropped_packets += 1
                    continue
                self._send_audio(session, member, payload, extension, sequence=(first_sequence + index) & 0xFFFF,
                                 timestamp=(first_timestamp + index * SAMPLES_PER_FRAME) & 0xFFFFFFFF)

    async def send_rtcp(self, guild_id: int, user_id: int) -> None:
        """An RTCP sender report from the user, which a receiver must not take for audio."""
        session, member = self._talking(guild_id, user_id)
        assert session.secret_key is not None and session.client_addr is not None
        packet = build_rtcp_sender_report(session.secret_key, ssrc=member.ssrc, nonce=session.next_nonce(),
                                          rtp_timestamp=member.timestamp)
        self._sendto(packet, session.client_addr)

    async def send_video(self, guild_id: int, user_id: int, payload: bytes = bytes(200)) -> None:
        """A video RTP packet (payload type 101, the user's SSRC + 1), which audio receivers must skip."""
        session, member = self._talking(guild_id, user_id)
        assert session.secret_key is not None and session.client_addr is not None
        member.video_sequence = (member.video_sequence + 1) & 0xFFFF
        packet = build_rtp(session.secret_key, sequence=member.video_sequence, timestamp=member.timestamp,
                           ssrc=member.ssrc + 1, payload=payload, nonce=session.next_nonce(),
                           payload_type=VIDEO_PAYLOAD_TYPE)
        self._sendto(packet, session.client_addr)

    def _talking(self, guild_id: int, user_id: int) -> tuple[BotSession, Member]:
        guild = self._guild(guild_id)
        member = guild.members.get(user_id)
        if member is None:
            raise ValueError(f"user {user_id} is not in a voice channel of guild {guild_id}: add_user first")
        session = guild.session
        if session is None or not session.ready:
            raise RuntimeError(f"the bot has no ready voice connection in guild {guild_id}")
        if session.expected.channel_id != member.channel_id:
            raise ValueError(f"user {user_id} is not in the bot's channel {session.expected.channel_id}")
        return session, member

    def _send_audio(self, session: BotSession, member: Member, payload: bytes, extension: bytes | None, *,
                    sequence: int, timestamp: int) -> None:
        assert session.secret_key is not None and session.client_addr is not None
        packet = build_rtp(session.secret_key, sequence=sequence, timestamp=timestamp, ssrc=member.ssrc,
                           payload=payload, nonce=session.next_nonce(), extension=extension)
        self._sendto(packet, session.client_addr)

    def _sendto(self, packet: bytes, addr: tuple[str, int]) -> None:
        assert self._udp is not None, "start() the voice server first"
        self._udp.sendto(packet, addr)

    # -- media from the bot ----------------------------------------------------------------------

    def _on_datagram(self, data: bytes, addr: tuple[str, int]) -> None:
        if is_discovery(data):
            request = parse_discovery(data)
            session = self._session_by_ssrc(request.ssrc)
            if request.kind == 1:
                if session is not None:
                    session.discovered_addr = addr
                self._sendto(build_discovery_reply(request.ssrc, addr[0], addr[1]), addr)
            return
        if is_rtcp(data):
            session = self._session_by_ssrc(int.from_bytes(data[4:8], "big"))
            if session is not None:
                self._guild(session.guild_id).rtcp_from_bot += 1
            return
        session = self._session_by_ssrc(int.from_bytes(data[8:12], "big")) if len(data) >= 12 else None
        if session is None or session.secret_key is None:
            self.unknown_datagrams += 1
            return
        guild = self._guild(session.guild_id)
        try:
            packet = parse_rtp(session.secret_key, data)
        except PacketError as exc:
            guild.rejected_packets += 1
            log.warning("dropped a packet from the bot in guild %s: %s", guild.guild_id, exc)
            return
        if packet.payload_type != OPUS_PAYLOAD_TYPE:
            return
        e2ee = False
        if session.dave is not None:
            frame, e2ee = session.dave.open_bot_frame(packet.payload)
            packet = dataclasses.replace(packet, payload=frame)
        guild.add(session.decode(packet, self.clock(), e2ee=e2ee))
        self.changed()

    def _session_by_ssrc(self, ssrc: int) -> BotSession | None:
        for guild in self._guilds.values():
            if guild.session is not None and guild.session.ssrc == ssrc:
                return guild.session
        return None

    # -- what tests read ----------------------------------------------------------------------

    def session(self, guild_id: int) -> BotSession | None:
        """The bot's current voice session in the guild (SSRC, secret key, speaking log, heartbeats)."""
        guild = self._guilds.get(guild_id)
        return guild.session if guild else None

    def guild(self, guild_id: int) -> GuildVoice:
        return self._guild(guild_id)

    def received_pcm(self, guild_id: int) -> bytes:
        """All the bot's audio in the guild, decoded to 48 kHz s16le stereo, ordered by RTP sequence."""
        return self._guild(guild_id).received_pcm()

    def forget_audio(self, guild_id: int) -> None:
        """Forget the bot's audio so far in the guild: received_pcm and wait_for_audio count from now."""
        self._guild(guild_id).forget_audio()
        self.changed()

    async def wait_for_quiet(self, guild_id: int, *, quiet: float = 0.2, timeout: float = 10.0) -> None:
        """Until no audio from the bot has arrived for `quiet` seconds (what it was saying has ended)."""
        guild = self._guild(guild_id)
        async with asyncio.timeout(timeout):
            while True:
                before = guild.pcm_bytes
                await asyncio.sleep(quiet)
                if guild.pcm_bytes == before:
                    return

    def packets_from_bot(self, guild_id: int) -> list[BotPacket]:
        return list(self._guild(guild_id).packets)

    async def wait_for_audio(self, guild_id: int, *, seconds: float, timeout: float) -> bytes:
        """Wait until at least `seconds` of the bot's audio has arrived, then return it all."""
        guild = self._guild(guild_id)
        needed = round(seconds * 50) * FRAME_BYTES
        await self.wait_for(lambda: guild.pcm_bytes >= needed, timeout=timeout,
                            what=lambda: f"{seconds} s of the bot's audio in guild {guild_id} "
                                         f"(got {guild.pcm_bytes / FRAME_BYTES / 50:.2f} s)")
        return guild.received_pcm()

    async def wait_for_session(self, guild_id: int, *, timeout: float) -> BotSession:
        """Wait until the bot's voice connection in the guild has completed its handshake."""
        def ready() -> BotSession | None:
            session = self.session(guild_id)
            return session if session is not None and session.ready else None

        return await self.wait_for(ready, timeout=timeout, what=f"the bot's voice handshake in guild {guild_id}")

    async def wait_for(self, predicate: Callable[[], T], *, timeout: float,
                       what: str | Callable[[], str] = "a voice server change") -> T:
        """Wake on every change the server sees (op, packet, close) until `predicate()` is truthy;
        AssertionError saying `what` on timeout."""
        return await self._changes.wait_for(predicate, timeout, what)

    # -- for VoiceSocket ------------------------------------------------------------------------

    def changed(self) -> None:
        self._changes.notify()

    def expected(self, guild_id: int) -> Expected | None:
        return self._expected.get(guild_id)

    def record_op(self, session: BotSession | None, payload: dict[str, Any]) -> None:
        self.ops_received.append((session.guild_id if session else None, payload))
        if session is not None:
            session.received_ops.append(payload)
        self.changed()

    async def open_session(self, expected: Expected, socket: VoiceSocket, max_dave: int) -> BotSession:
        """A fresh IDENTIFY: new SSRC, and any previous connection of the guild is dropped."""
        guild = self._guild(expected.guild_id)
        old = guild.session
        guild.session = BotSession(expected, next(self._ssrcs), guild.generations, socket.version, max_dave,
                                   ws=socket.ws)
        guild.generations += 1
        if old is not None and old.ws is not None and old.ws is not socket.ws and not old.ws.closed:
            self._spawn(self._close_ws(old.ws, 4006, "session replaced"))
        self.changed()
        return guild.session

    async def resume_session(self, session: BotSession, socket: VoiceSocket) -> None:
        old = session.ws
        session.ws = socket.ws
        session.version = socket.version
        session.resumes += 1
        if old is not None and old is not socket.ws and not old.closed:
            self._spawn(self._close_ws(old, 4006, "session resumed elsewhere"))
        self.changed()

    async def announce_members(self, session: BotSession) -> None:
        """After SESSION_DESCRIPTION, tell the bot who is already in its channel."""
        members = [m.user_id for m in self._guild(session.guild_id).members.values()
                   if m.channel_id == session.expected.channel_id]
        if members:
            await self._announce(session, members)

    async def start_dave(self, session: BotSession) -> None:
        """After SESSION_DESCRIPTION with dave_protocol_version 1: the external sender, then the group."""
        from devtools.discord_emulator.voice_dave import DaveChannel  # DAVE's MLS stack loads only when used

        session.dave = DaveChannel(channel_id=session.expected.channel_id, bot_user_id=session.expected.user_id,
                                   send_binary=session.send_binary, send_json=session.send_json)
        await session.dave.start(m.user_id for m in self._guild(session.guild_id).members.values()
                                 if m.channel_id == session.expected.channel_id)

    async def _announce(self, session: BotSession, user_ids: list[int]) -> None:
        await session.send_json(11, {"user_ids": [str(u) for u in user_ids]}, sequenced=True)
        for user_id in user_ids:  # Discord follows with each client's flags and platform
            await session.send_json(18, {"user_id": str(user_id), "flags": 0}, sequenced=True)
            await session.send_json(20, {"user_id": str(user_id), "platform": 0}, sequenced=True)

    # -- internals -----------------------------------------------------------------------------

    def _guild(self, guild_id: int) -> GuildVoice:
        guild = self._guilds.get(guild_id)
        if guild is None:
            guild = self._guilds[guild_id] = GuildVoice(guild_id)
        return guild

    def _spawn(self, coro: Any) -> None:
        assert self._loop is not None, "start() the voice server first"
        task = self._loop.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _close_ws(self, ws: web.WebSocketResponse, code: int, reason: str) -> None:
        self.closes.append((code, reason))
        self.changed()
        with contextlib.suppress(ConnectionResetError):
            await ws.close(code=code, message=reason.encode())

    async def _handle_ws(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(timeout=5.0, max_msg_size=1 << 20)
        await ws.prepare(request)
        self._sockets.add(ws)
        try:
            version = int(request.query.get("v", "0"))
        except ValueError:
            version = 0
        socket = VoiceSocket(self, ws, version)
        try:
            await socket.run()
        finally:
            self._sockets.discard(ws)
            if socket.session is not None and socket.session.ws is ws:
                socket.session.ws = None
            self.changed()
        return ws
