"""Voice receive for discord.py 2.7.1, which only sends: a VoiceClient that also hears each member.

Our own receiver rather than discord-ext-voice-recv: that package is a pre-release that must be
pinned to an alpha, and it does not open DAVE frames, so on today's Discord (DAVE is mandatory) it
hands out garbage. discord.py already has the pieces: a socket reader thread with listener callbacks,
a websocket hook (SPEAKING maps SSRC -> user), the connection's secret key and its DAVE session. So
this is small: transport decryption and RTP in services/voice/rtp.py, DAVE in services/voice/dave.py,
then per SSRC a jitter buffer and opus decoder (cogs/voice/decode.py: sequence order, lost packets
concealed; `drain_jitter` releases what waits behind a gap once a member stopped sending). Audio
from an SSRC nobody announced yet is held briefly and replayed once SPEAKING maps it; RTCP, video
and undecryptable packets are counted and dropped. A member not in `audible` (cogs/voice/consent.py)
is dropped before any of this: before decryption, the jitter buffer and the decoder.
"""

from __future__ import annotations

import logging
import select
import socket
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from typing import Any

import discord
from discord.voice_state import SocketReader, VoiceConnectionState

from cogs.voice.decode import DecodeStats, SpeakerDecoder
from services.voice.dave import FrameOpener
from services.voice.jitter import JitterStats
from services.voice.rtp import OPUS_SILENCE, AudioPacket, Skip, parse_audio

log = logging.getLogger(__name__)

SPEAKING, CLIENT_DISCONNECT = 5, 13
MAX_HELD_PACKETS = 50  # one second per unknown SSRC, until its SPEAKING arrives
MAX_HELD_SSRCS = 32
SELECT_TIMEOUT = 0.5  # seconds the socket reader waits on one socket before looking at the current one
Sink = Callable[[int, bytes, float], None]  # (user id, 20 ms of 48 kHz stereo PCM, perf_counter())


class WakingSocketReader(SocketReader):
    """discord.py's socket reader, but it never waits on a socket that is gone.

    discord.py 2.7.1's reader sits in select() on the connection's socket for up to 30 s. When the
    voice connection drops, discord.py closes that socket and makes a new one; a close does not wake
    a select() waiting on it, so the thread missed the new socket's IP-discovery reply and the
    reconnect timed out (then retried, forever, deaf). This loop selects for at most SELECT_TIMEOUT
    and reads from the socket it selected on, so a new socket is picked up within that time; a
    pause also shuts the old socket down, which wakes the thread at once.
    """

    def pause(self) -> None:
        super().pause()
        sock = self.state.socket
        if sock:
            try:
                sock.shutdown(socket.SHUT_RD)  # wakes a select() on it, even on an unconnected socket
            except OSError as exc:
                log.debug("Shutting the old voice socket down: %s", exc)

    def _do_run(self) -> None:
        while not self._end.is_set():
            if not self._running.is_set():
                self._running.wait()
                continue
            sock = self.state.socket
            try:
                readable, _, _ = select.select([sock], [], [], SELECT_TIMEOUT)
            except (ValueError, TypeError, OSError):  # closed, or not made yet
                time.sleep(0.01)
                continue
            if not readable:
                continue
            try:
                data = sock.recv(2048)
            except OSError:
                continue
            for callback in list(self._callbacks):
                try:
                    callback(data)
                except Exception:
                    log.exception("Error calling %s in %s", callback, self)


class ReceivingConnectionState(VoiceConnectionState):
    """discord.py's connection state with the waking reader, noting who ended the connection."""

    def __init__(self, voice_client: ReceivingVoiceClient, *, hook: Any) -> None:
        super().__init__(voice_client, hook=hook)
        self.receiver = voice_client
        self._socket_reader.stop()  # still paused, it ends at once; ours replaces it
        self._socket_reader = WakingSocketReader(self)
        self._socket_reader.start()

    async def voice_state_update(self, data: Any) -> None:
        # Channel gone without discord.py having asked to leave: a moderator (or Discord) removed us.
        # discord.py 2.7.1 sets _expecting_disconnect when it sends that request itself.
        if data.get("channel_id") is None and not self._expecting_disconnect:
            self.receiver.removed_by_discord = True
        await super().voice_state_update(data)


class ReceivingVoiceClient(discord.VoiceClient):
    """`await channel.connect(cls=ReceivingVoiceClient)`, then `listen(sink)`; the sink runs on the loop."""

    def __init__(self, client: discord.Client, channel: Any) -> None:
        self._lock = threading.Lock()
        self._users: dict[int, int] = {}  # ssrc -> user id
        self._held: dict[int, deque[AudioPacket]] = {}
        self._speakers: dict[int, SpeakerDecoder] = {}  # ssrc -> jitter buffer and decoder
        self._sink: Sink | None = None
        self.opener = FrameOpener()
        self.skipped: Counter[str] = Counter()
        self.jitter = JitterStats()
        self.decoding = DecodeStats()
        # Members whose audio is let through: told that the bot listens, and not opted out. Anyone else's
        # packets are dropped before DAVE, the jitter buffer or opus touch them (cogs/voice/consent.py sets this).
        self.audible: frozenset[int] = frozenset()
        # Set when discord.py is done with this client (left, removed, or gave up reconnecting).
        self.on_gone: Callable[[ReceivingVoiceClient], None] | None = None
        self.removed_by_discord = False
        super().__init__(client, channel)

    def create_connection_state(self) -> VoiceConnectionState:
        return ReceivingConnectionState(self, hook=self._ws_hook)

    def cleanup(self) -> None:
        super().cleanup()
        if self.on_gone is not None:
            self.on_gone(self)

    # --- public -----------------------------------------------------------------------------------

    def listen(self, sink: Sink) -> None:
        if self._sink is None:
            self._connection.add_socket_listener(self._on_datagram)
        self._sink = sink

    def stop_listening(self) -> None:
        if self._sink is not None:
            self._connection.remove_socket_listener(self._on_datagram)
        self._sink = None

    def user_for(self, ssrc: int) -> int | None:
        return self._users.get(ssrc)

    def send_keepalive(self) -> None:
        """One opus silence frame: Discord forgets a UDP route that sends nothing for a minute."""
        if self.is_connected() and not self.is_playing():
            self.send_audio_packet(OPUS_SILENCE, encode=False)

    # --- websocket (event loop) -------------------------------------------------------------------

    async def _ws_hook(self, ws: Any, msg: dict[str, Any]) -> None:
        op, data = msg.get("op"), msg.get("d") or {}
        if op == SPEAKING and "ssrc" in data and "user_id" in data:
            self._map(int(data["ssrc"]), int(data["user_id"]))
        elif op == CLIENT_DISCONNECT and "user_id" in data:
            self._forget(int(data["user_id"]))

    def _map(self, ssrc: int, user_id: int) -> None:
        with self._lock:
            self._users[ssrc] = user_id
            held = self._held.pop(ssrc, None)
        for packet in held or ():
            self._deliver(user_id, packet)

    def _forget(self, user_id: int) -> None:
        with self._lock:
            for ssrc in [s for s, u in self._users.items() if u == user_id]:
                del self._users[ssrc]
                self._speakers.pop(ssrc, None)

    # --- socket reader thread ---------------------------------------------------------------------

    def _on_datagram(self, data: bytes) -> None:
        key = self._connection.secret_key
        if not key or self._sink is None:
            return
        if len(data) >= 12:  # the SSRC is in the clear: a member we may not hear is dropped before decryption
            known = self._users.get(int.from_bytes(data[8:12], "big"))
            if known is not None and known not in self.audible:
                self.skipped["NOT_HEARD"] += 1
                return
        result = parse_audio(bytes(key), data)
        if isinstance(result, Skip):
            self.skipped[result.name] += 1
            if result is Skip.DECRYPT and self.skipped[result.name] in (1, 100):
                log.debug("Dropped a voice packet that failed transport decryption")
            return
        with self._lock:
            user_id = self._users.get(result.ssrc)
            if user_id is None:
                if result.ssrc not in self._held and len(self._held) >= MAX_HELD_SSRCS:
                    self.skipped["UNKNOWN_SSRC_DROPPED"] += 1
                    return
                held = self._held.setdefault(result.ssrc, deque(maxlen=MAX_HELD_PACKETS))
                held.append(result)
                self.skipped["UNKNOWN_SSRC_HELD"] += 1
                return
        self._deliver(user_id, result)

    @property
    def decoded(self) -> int:
        return self.decoding.decoded

    def drain_jitter(self, now: float) -> None:
        """Release audio held behind a gap for longer than the buffer waits (called every 20 ms); the
        buffers of members no longer audible are dropped undecoded."""
        sink = self._sink
        if sink is None:
            return
        with self._lock:
            for ssrc, speaker in list(self._speakers.items()):
                user_id = self._users.get(ssrc)
                if user_id is not None and user_id not in self.audible:
                    del self._speakers[ssrc]  # opted out or left: what waits in their buffer is never decoded
                elif user_id is not None and speaker.buffer.held:
                    for pcm in speaker.drain(now):
                        self.loop.call_soon_threadsafe(sink, user_id, pcm, now)

    def _deliver(self, user_id: int, packet: AudioPacket) -> None:
        sink = self._sink
        if sink is None or user_id == self.user.id:
            return
        if user_id not in self.audible:  # opted out, or not told yet: never decoded, transcribed or kept
            self.skipped["NOT_HEARD"] += 1
            return
        state = self._connection
        frame = self.opener.open(state.dave_session, state.dave_protocol_version, user_id, packet.opus)
        now = time.perf_counter()
        with self._lock:  # decoding and scheduling in one lock keeps each member's frames in order
            speaker = self._speakers.get(packet.ssrc)
            if speaker is None:
                speaker = self._speakers[packet.ssrc] = SpeakerDecoder(self.decoding, self.jitter)
            for pcm in speaker.push(packet.sequence, frame, now):
                self.loop.call_soon_threadsafe(sink, user_id, pcm, now)
