"""State the voice server keeps per bot connection and per guild, and the records tests assert on."""

from __future__ import annotations

import asyncio
import json
import logging
import struct
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import web
from discord import opus

from devtools.discord_emulator.voice_rtp import OPUS_SILENCE, RtpPacket

if TYPE_CHECKING:
    from devtools.discord_emulator.voice_dave import DaveChannel

log = logging.getLogger(__name__)

FRAME_BYTES = 960 * 2 * 2  # one 20 ms frame of 48 kHz stereo s16le
MAX_GAP_FRAMES = 50  # a gap of lost packets becomes at most 1 s of silence in received_pcm
RESUME_BUFFER = 500  # sequenced messages kept for a v8 buffered resume


@dataclass(frozen=True, slots=True)
class BotPacket:
    """One RTP packet the bot sent, as received: for pacing, ordering and speaking assertions."""

    arrival: float  # event-loop clock (monotonic seconds)
    sequence: int
    timestamp: int
    ssrc: int
    payload_type: int
    marker: bool
    nonce: int
    speaking: int | None  # the bot's last SPEAKING flags when the packet arrived (None: never sent)
    opus: bytes
    pcm: bytes  # decoded 48 kHz stereo
    generation: int  # which voice connection of the guild sent it (0, 1, ... after reconnects)
    order: int  # sequence extended past 16-bit wrap-around, for ordering within a generation
    e2ee: bool = False  # the frame came DAVE-encrypted (`opus` is the decrypted frame)

    @property
    def is_silence(self) -> bool:
        return self.opus == OPUS_SILENCE


@dataclass(frozen=True, slots=True)
class Heartbeat:
    arrival: float
    payload: Any  # v8: {"t": ..., "seq_ack": ...}; older versions: the bare nonce


@dataclass
class Expected:
    """Credentials the gateway handed out in VOICE_STATE_UPDATE / VOICE_SERVER_UPDATE."""

    guild_id: int
    channel_id: int
    user_id: int
    session_id: str
    token: str


@dataclass
class BotSession:
    """One bot voice session: survives a RESUME (new websocket, same SSRC and key)."""

    expected: Expected
    ssrc: int
    generation: int
    version: int
    max_dave_protocol_version: int = 0
    ws: web.WebSocketResponse | None = None
    mode: str | None = None
    secret_key: bytes | None = None
    client_addr: tuple[str, int] | None = None  # from SELECT_PROTOCOL: where users' audio goes
    discovered_addr: tuple[str, int] | None = None  # where its IP discovery came from
    speaking: int | None = None
    speaking_log: list[tuple[float, int]] = field(default_factory=list)
    heartbeats: list[Heartbeat] = field(default_factory=list)
    received_ops: list[dict[str, Any]] = field(default_factory=list)
    resumes: int = 0
    out_nonce: int = 0  # counter for packets the server sends this bot
    dave: DaveChannel | None = None  # with VoiceServer(dave=True), once SESSION_DESCRIPTION went out
    _seq: int = 0
    _sent: deque[tuple[int, str | bytes]] = field(default_factory=lambda: deque(maxlen=RESUME_BUFFER))
    _dropped: bool = False  # the resume buffer overflowed: old messages are gone
    _decoder: opus.Decoder | None = None
    _last_order: int | None = None

    @property
    def guild_id(self) -> int:
        return self.expected.guild_id

    @property
    def ready(self) -> bool:
        """Handshake done: the bot has a key and an address, so audio can flow both ways."""
        return self.secret_key is not None and self.client_addr is not None

    @property
    def seq(self) -> int:
        return self._seq & 0xFFFF

    def next_nonce(self) -> int:
        self.out_nonce = (self.out_nonce + 1) & 0xFFFFFFFF
        return self.out_nonce

    async def send_json(self, op: int, d: Any, *, sequenced: bool = False) -> None:
        """Send (or, while the websocket is down, only buffer) a JSON message; v8 numbers the
        messages a resume must replay."""
        message: dict[str, Any] = {"op": op, "d": d}
        if sequenced and self.version >= 8:
            message["seq"] = self._number()
            text = json.dumps(message)
            self._remember(message["seq"], text)
        else:
            text = json.dumps(message)
        await self._send(text)

    async def send_binary(self, op: int, payload: bytes) -> None:
        """Server-to-client binary frames always carry the 16-bit sequence number first."""
        seq = self._number()
        data = struct.pack(">HB", seq, op) + payload
        self._remember(seq, data)
        await self._send(data)

    def _number(self) -> int:
        self._seq += 1
        return self._seq & 0xFFFF

    def _remember(self, seq: int, message: str | bytes) -> None:
        if len(self._sent) == self._sent.maxlen:
            self._dropped = True
        self._sent.append((seq, message))

    async def _send(self, message: str | bytes) -> None:
        ws = self.ws
        if ws is None or ws.closed:
            return
        try:
            if isinstance(message, str):
                await ws.send_str(message)
            else:
                await ws.send_bytes(message)
        except ConnectionResetError:
            log.debug("voice ws for guild %s went away while sending", self.guild_id)

    def missed_since(self, seq_ack: int) -> list[str | bytes] | None:
        """Messages after `seq_ack` for a buffered resume; None when some are no longer buffered."""
        sent = list(self._sent)
        if self._seq == 0 or seq_ack == self.seq:
            return []
        for index in range(len(sent) - 1, -1, -1):
            if sent[index][0] == seq_ack:
                return [m for _, m in sent[index + 1:]]
        if seq_ack < 0 and not self._dropped:
            return [m for _, m in sent]
        return None

    def decode(self, packet: RtpPacket, arrival: float, *, e2ee: bool = False) -> BotPacket:
        """Decode in arrival order with one decoder per connection, as a receiver must."""
        if self._decoder is None:
            self._decoder = opus.Decoder()
        order = packet.sequence if self._last_order is None else _extend(self._last_order, packet.sequence)
        self._last_order = max(order, self._last_order if self._last_order is not None else order)
        try:
            pcm = self._decoder.decode(packet.payload, fec=False)
        except opus.OpusError as exc:
            log.warning("bot sent an undecodable opus frame (seq %s): %s", packet.sequence, exc)
            pcm = b""
        return BotPacket(arrival, packet.sequence, packet.timestamp, packet.ssrc, packet.payload_type, packet.marker,
                         packet.nonce, self.speaking, packet.payload, pcm, self.generation, order, e2ee)


def _extend(last: int, seq: int) -> int:
    delta = (seq - last) & 0xFFFF
    return last + delta if delta < 0x8000 else last - (0x10000 - delta)


@dataclass
class Member:
    """A simulated human in a voice channel, with its outgoing RTP state."""

    user_id: int
    channel_id: int
    ssrc: int
    sequence: int
    timestamp: int
    video_sequence: int = 0
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)  # one utterance at a time per user


@dataclass
class GuildVoice:
    """Everything per guild: the bot's session, the humans, and what the bot said."""

    guild_id: int
    session: BotSession | None = None
    members: dict[int, Member] = field(default_factory=dict)
    packets: list[BotPacket] = field(default_factory=list)
    rtcp_from_bot: int = 0
    rejected_packets: int = 0  # failed authentication or parsing
    dropped_packets: int = 0  # audio to the bot dropped on purpose by `speak(drop=...)` (a lossy network)
    pcm_bytes: int = 0
    generations: int = 0

    def add(self, packet: BotPacket) -> None:
        self.packets.append(packet)
        self.pcm_bytes += len(packet.pcm)

    def forget_audio(self) -> None:
        """Drop what the bot said so far (a test measures only what comes next)."""
        self.packets.clear()
        self.pcm_bytes = 0

    def received_pcm(self) -> bytes:
        """Frames in sequence order (late packets take their place); lost ones become silence."""
        ordered = sorted(self.packets, key=lambda p: (p.generation, p.order))
        chunks: list[bytes] = []
        for previous, packet in zip([None, *ordered], ordered, strict=False):
            if previous is not None and previous.generation == packet.generation:
                missing = packet.order - previous.order - 1
                chunks.append(bytes(FRAME_BYTES * min(max(missing, 0), MAX_GAP_FRAMES)))
            chunks.append(packet.pcm)
        return b"".join(chunks)
