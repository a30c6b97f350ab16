"""The voice server at the wire level, seen by a bare client written here from Discord's documented
formats (not from the emulator's helpers), so a format bug on both sides cannot cancel out."""

from __future__ import annotations

import asyncio
import itertools
import json
import statistics
import struct
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from discord import opus
from nacl.bindings import crypto_aead_xchacha20poly1305_ietf_decrypt, crypto_aead_xchacha20poly1305_ietf_encrypt

from devtools.discord_emulator.audio import dominant_frequency, is_silence, sine_tone
from devtools.discord_emulator.certs import make_certificates
from devtools.discord_emulator.voice import VoiceServer

GUILD, CHANNEL, BOT = 1001, 2002, 3003
ALICE, BOB = 4004, 5005
XCHACHA = "aead_xchacha20_poly1305_rtpsize"


class _Datagrams(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.queue.put_nowait((asyncio.get_running_loop().time(), data))


class RawVoiceClient:
    """Speaks the voice websocket and UDP by hand."""

    def __init__(self, http: aiohttp.ClientSession, endpoint: str) -> None:
        self.http = http
        self.endpoint = endpoint
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self.udp: asyncio.DatagramTransport | None = None
        self.datagrams = _Datagrams()
        self.ready: dict[str, Any] = {}
        self.key = b""
        self.nonce = 0

    async def connect(self, version: int = 8) -> dict[str, Any]:
        self.ws = await self.http.ws_connect(f"wss://{self.endpoint}/?v={version}", autoclose=False)
        return await self.recv(8)

    async def send(self, op: int, d: Any) -> None:
        assert self.ws is not None
        await self.ws.send_str(json.dumps({"op": op, "d": d}))

    async def recv(self, op: int | None = None, timeout: float = 3.0) -> dict[str, Any]:
        """The next JSON message (skipping others until `op`, when given)."""
        assert self.ws is not None
        async with asyncio.timeout(timeout):
            while True:
                msg = await self.ws.receive()
                if msg.type is not aiohttp.WSMsgType.TEXT:
                    raise AssertionError(f"expected a text frame, got {msg.type} {msg.data!r} {msg.extra!r}")
                payload = json.loads(msg.data)
                if op is None or payload["op"] == op:
                    return payload

    async def close_code(self, timeout: float = 3.0) -> int:
        assert self.ws is not None
        async with asyncio.timeout(timeout):
            while True:
                msg = await self.ws.receive()
                if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSING):
                    await self.ws.close()
                    return int(self.ws.close_code or 0)

    async def identify(self, token: str = "voice-token", session_id: str = "sess-1") -> dict[str, Any]:
        await self.send(0, {"server_id": str(GUILD), "user_id": str(BOT), "session_id": session_id,
                            "token": token, "max_dave_protocol_version": 0})
        self.ready = (await self.recv(2))["d"]
        return self.ready

    async def discover(self) -> tuple[str, int]:
        loop = asyncio.get_running_loop()
        self.udp, _ = await loop.create_datagram_endpoint(
            lambda: self.datagrams, remote_addr=(self.ready["ip"], self.ready["port"]))
        self.udp.sendto(struct.pack(">HHI", 1, 70, self.ready["ssrc"]) + bytes(66))
        _, reply = await asyncio.wait_for(self.datagrams.queue.get(), 3)
        assert len(reply) == 74 and reply[:4] == b"\x00\x02\x00\x46"
        assert struct.unpack(">I", reply[4:8])[0] == self.ready["ssrc"]
        ip = reply[8: reply.index(0, 8)].decode("ascii")
        return ip, struct.unpack(">H", reply[-2:])[0]

    async def handshake(self, **identify: str) -> dict[str, Any]:
        await self.connect()
        await self.identify(**identify)
        ip, port = await self.discover()
        await self.send(1, {"protocol": "udp", "data": {"address": ip, "port": port, "mode": XCHACHA}})
        description = (await self.recv(4))["d"]
        self.key = bytes(description["secret_key"])
        return description

    def send_rtp(self, sequence: int, timestamp: int, payload: bytes, *, extension: bytes | None = None,
                 tamper: bool = False) -> None:
        """Like discord.py (no extension) or like a Discord client (X bit + 0xBEDE)."""
        assert self.udp is not None
        first = 0x90 if extension is not None else 0x80
        header = struct.pack(">BBHII", first, 0x78, sequence, timestamp, self.ready["ssrc"])
        if extension is not None:
            header += struct.pack(">HH", 0xBEDE, len(extension) // 4)
            payload = extension + payload
        nonce = struct.pack(">I", self.nonce)
        self.nonce += 1
        sealed = crypto_aead_xchacha20poly1305_ietf_encrypt(payload, header, nonce + bytes(20), self.key)
        if tamper:
            sealed = bytes([sealed[0] ^ 1]) + sealed[1:]
        self.udp.sendto(header + sealed + nonce)

    async def datagrams_until_quiet(self, count: int, timeout: float = 5.0) -> list[tuple[float, bytes]]:
        got = []
        async with asyncio.timeout(timeout):
            while len(got) < count:
                got.append(await self.datagrams.queue.get())
        return got

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
        if self.udp is not None:
            self.udp.close()


def decrypt_discord_rtp(key: bytes, packet: bytes) -> dict[str, Any]:
    """rtpsize by the book: clear header = 12 bytes + CSRCs + the 4-byte extension preamble."""
    first, second, seq, ts, ssrc = struct.unpack(">BBHII", packet[:12])
    aad_len = 12 + 4 * (first & 0x0F)
    words = 0
    if first & 0x10:
        profile, words = struct.unpack(">HH", packet[aad_len: aad_len + 4])
        assert profile == 0xBEDE
        aad_len += 4
    nonce = packet[-4:]
    plain = crypto_aead_xchacha20poly1305_ietf_decrypt(packet[aad_len:-4], packet[:aad_len], nonce + bytes(20), key)
    return {"first": first, "pt": second & 0x7F, "seq": seq, "ts": ts, "ssrc": ssrc, "nonce": struct.unpack(">I", nonce)[0],
            "extension": plain[: 4 * words], "payload": plain[4 * words:]}


@pytest.fixture
async def voice(tmp_path: Path) -> AsyncIterator[tuple[VoiceServer, aiohttp.ClientSession]]:
    tls = make_certificates(tmp_path)
    server = VoiceServer(tls.server_context())
    await server.start()
    server.expect_session(guild_id=GUILD, channel_id=CHANNEL, user_id=BOT, session_id="sess-1", token="voice-token")
    http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=tls.client_context()))
    yield server, http
    await http.close()
    await server.stop()


@pytest.fixture
async def client(voice: tuple[VoiceServer, aiohttp.ClientSession]) -> AsyncIterator[RawVoiceClient]:
    server, http = voice
    raw = RawVoiceClient(http, server.endpoint)
    yield raw
    await raw.close()


@pytest.fixture
def server(voice: tuple[VoiceServer, aiohttp.ClientSession]) -> VoiceServer:
    return voice[0]


async def test_handshake_follows_discords_order_and_formats(server: VoiceServer, client: RawVoiceClient) -> None:
    hello = await client.connect()
    assert hello["d"]["heartbeat_interval"] == 13750.0
    ready = await client.identify()
    assert ready["ip"] == "127.0.0.1" and ready["port"] == server.udp_port
    assert ready["modes"][0] == "aead_aes256_gcm_rtpsize" and XCHACHA in ready["modes"]
    ip, port = await client.discover()
    assert client.udp is not None
    assert (ip, port) == client.udp.get_extra_info("sockname")[:2]
    await client.send(1, {"protocol": "udp", "data": {"address": ip, "port": port, "mode": XCHACHA}})
    description = (await client.recv(4))["d"]
    assert description["mode"] == XCHACHA and description["dave_protocol_version"] == 0
    assert len(description["secret_key"]) == 32 and all(0 <= b < 256 for b in description["secret_key"])
    session = await server.wait_for_session(GUILD, timeout=2)
    assert session.ssrc == ready["ssrc"] and session.client_addr == (ip, port)
    assert session.discovered_addr == (ip, port)


async def test_heartbeat_is_acked_with_its_nonce(server: VoiceServer, client: RawVoiceClient) -> None:
    await client.connect()
    await client.identify()
    await client.send(3, {"t": 1501184119561, "seq_ack": -1})
    assert (await client.recv(6))["d"] == {"t": 1501184119561}
    session = server.session(GUILD)
    assert session is not None and session.heartbeats[-1].payload == {"t": 1501184119561, "seq_ack": -1}


@pytest.mark.parametrize(("first", "expected_code"), [
    ({"op": 0, "d": {"server_id": str(GUILD), "user_id": str(BOT), "session_id": "sess-1", "token": "stolen"}}, 4004),
    ({"op": 0, "d": {"server_id": str(GUILD), "user_id": str(BOT), "session_id": "old", "token": "voice-token"}}, 4006),
    ({"op": 0, "d": {"server_id": "999", "user_id": str(BOT), "session_id": "sess-1", "token": "voice-token"}}, 4004),
    ({"op": 1, "d": {"protocol": "udp", "data": {"address": "1.2.3.4", "port": 1, "mode": XCHACHA}}}, 4003),
    ({"op": 99, "d": {}}, 4001),
    ({"op": 7, "d": {"server_id": str(GUILD), "session_id": "sess-1", "token": "voice-token"}}, 4006),
])
async def test_bad_requests_are_closed_with_discords_codes(server: VoiceServer, client: RawVoiceClient,
                                                           first: dict[str, Any], expected_code: int) -> None:
    await client.connect()
    assert client.ws is not None
    await client.ws.send_str(json.dumps(first))
    assert await client.close_code() == expected_code
    assert server.closes[-1][0] == expected_code


async def test_twice_identified_and_unimplemented_mode_are_refused(server: VoiceServer,
                                                                   client: RawVoiceClient) -> None:
    await client.connect()
    await client.identify()
    await client.send(1, {"protocol": "udp", "data": {"address": "127.0.0.1", "port": 9,
                                                      "mode": "aead_aes256_gcm_rtpsize"}})
    assert await client.close_code() == 4016
    await client.connect()
    await client.identify()
    await client.send(0, {"server_id": str(GUILD), "user_id": str(BOT), "session_id": "sess-1", "token": "voice-token"})
    assert await client.close_code() == 4005


async def test_a_users_speech_arrives_as_discord_formats_it(server: VoiceServer, client: RawVoiceClient) -> None:
    await client.handshake()
    ssrc = await server.add_user(GUILD, CHANNEL, ALICE)
    joined = await client.recv(11)
    assert joined["d"] == {"user_ids": [str(ALICE)]} and isinstance(joined["seq"], int)
    await server.speak(GUILD, ALICE, sine_tone(0.5, 440))
    speaking = await client.recv(5)
    assert speaking["d"] == {"user_id": str(ALICE), "ssrc": ssrc, "speaking": 1}
    assert speaking["seq"] > joined["seq"]

    arrived = await client.datagrams_until_quiet(25 + 5)
    packets = [decrypt_discord_rtp(client.key, data) for _, data in arrived]
    assert all(p["first"] == 0x90 and p["pt"] == 0x78 and p["ssrc"] == ssrc for p in packets)
    assert all(len(p["extension"]) == 4 and p["extension"][0] >> 4 == 1 for p in packets)  # one BEDE element, id 1
    for before, after in itertools.pairwise(packets):
        assert after["seq"] == (before["seq"] + 1) & 0xFFFF
        assert after["ts"] == (before["ts"] + 960) & 0xFFFFFFFF
        assert after["nonce"] == before["nonce"] + 1
    assert [p["payload"] for p in packets[-5:]] == [b"\xf8\xff\xfe"] * 5
    gaps = [b - a for (a, _), (b, _) in itertools.pairwise(arrived)]
    assert 0.017 < statistics.median(gaps) < 0.023
    assert 0.55 < arrived[-1][0] - arrived[0][0] < 0.75  # 30 packets, 29 gaps of 20 ms

    decoder = opus.Decoder()
    pcm = b"".join(decoder.decode(p["payload"], fec=False) for p in packets[:25])
    assert len(pcm) == 25 * 3840
    assert abs(dominant_frequency(pcm[3840 * 2:]) - 440) < 10
    trailing = b"".join(decoder.decode(p["payload"], fec=False) for p in packets[-5:])
    assert is_silence(trailing[3840:]), "after the first one (the tone's tail), silence frames decode to silence"

    await server.remove_user(GUILD, ALICE)
    assert (await client.recv(13))["d"] == {"user_id": str(ALICE)}


async def test_two_users_talk_at_once_on_their_own_ssrcs(server: VoiceServer, client: RawVoiceClient) -> None:
    await client.handshake()
    alice = await server.add_user(GUILD, CHANNEL, ALICE)
    bob = await server.add_user(GUILD, CHANNEL, BOB)
    assert alice != bob
    await asyncio.gather(server.speak(GUILD, ALICE, sine_tone(0.3, 300), silence_frames=0),
                         server.speak(GUILD, BOB, sine_tone(0.3, 1000, channels=1), channels=1, silence_frames=0))
    packets = [decrypt_discord_rtp(client.key, data) for _, data in await client.datagrams_until_quiet(30)]
    by_ssrc: dict[int, list[bytes]] = {alice: [], bob: []}
    for p in packets:
        by_ssrc[p["ssrc"]].append(p["payload"])
    assert len(by_ssrc[alice]) == len(by_ssrc[bob]) == 15
    positions = {ssrc: [i for i, p in enumerate(packets) if p["ssrc"] == ssrc] for ssrc in (alice, bob)}
    assert positions[bob][0] < positions[alice][-1] and positions[alice][0] < positions[bob][-1], \
        "the two streams overlap in time, not one after the other"
    for ssrc, frequency in ((alice, 300), (bob, 1000)):
        decoder = opus.Decoder()
        pcm = b"".join(decoder.decode(frame, fec=False) for frame in by_ssrc[ssrc])
        assert abs(dominant_frequency(pcm[3840 * 2:]) - frequency) < frequency * 0.03


async def test_speech_at_another_rate_is_resampled_to_48k(server: VoiceServer, client: RawVoiceClient) -> None:
    await client.handshake()
    await server.add_user(GUILD, CHANNEL, ALICE)
    await server.speak(GUILD, ALICE, sine_tone(0.3, 1000, sample_rate=16000, channels=1), sample_rate=16000,
                       channels=1, silence_frames=0)
    packets = [decrypt_discord_rtp(client.key, data) for _, data in await client.datagrams_until_quiet(15)]
    decoder = opus.Decoder()
    pcm = b"".join(decoder.decode(p["payload"], fec=False) for p in packets)
    assert len(pcm) == 15 * 3840
    assert abs(dominant_frequency(pcm[3840 * 2:]) - 1000) < 30


async def test_rtcp_and_video_packets_can_be_sent_for_receivers_to_skip(server: VoiceServer,
                                                                         client: RawVoiceClient) -> None:
    await client.handshake()
    ssrc = await server.add_user(GUILD, CHANNEL, ALICE)
    await server.send_rtcp(GUILD, ALICE)
    await server.send_video(GUILD, ALICE, b"\x01" * 50)
    (_, rtcp), (_, video) = await client.datagrams_until_quiet(2)
    assert rtcp[0] == 0x80 and rtcp[1] == 200 and struct.unpack(">I", rtcp[4:8])[0] == ssrc
    sender_info = crypto_aead_xchacha20poly1305_ietf_decrypt(rtcp[8:-4], rtcp[:8], rtcp[-4:] + bytes(20), client.key)
    assert len(sender_info) == 20
    parsed = decrypt_discord_rtp(client.key, video)
    assert parsed["pt"] == 101 and parsed["ssrc"] == ssrc + 1 and parsed["payload"] == b"\x01" * 50


async def test_bot_audio_is_decrypted_decoded_and_kept_in_sequence(server: VoiceServer,
                                                                   client: RawVoiceClient) -> None:
    await client.handshake()
    encoder = opus.Encoder()
    tone = sine_tone(0.2, 440)
    frames = [encoder.encode(tone[i: i + 3840], 960) for i in range(0, len(tone), 3840)]
    await client.send(5, {"speaking": 1, "delay": 0, "ssrc": client.ready["ssrc"]})
    await server.wait_for(lambda: (s := server.session(GUILD)) is not None and s.speaking == 1, timeout=2)
    order = [0, 1, 2, 4, 3, 5, 6, 7, 8, 9]  # one pair swapped in flight
    for index in order:
        client.send_rtp((65530 + index) & 0xFFFF, index * 960, frames[index],
                        extension=b"\x10\x07\x00\x00" if index % 2 else None)
    client.send_rtp(10, 10 * 960, frames[0], tamper=True)
    pcm = await server.wait_for_audio(GUILD, seconds=0.2, timeout=3)
    assert len(pcm) == 10 * 3840
    packets = server.packets_from_bot(GUILD)
    assert [p.sequence for p in packets] == [(65530 + i) & 0xFFFF for i in order]
    assert all(p.speaking == 1 for p in packets)
    by_sequence = sorted(packets, key=lambda p: p.order)
    assert [p.order for p in by_sequence] == list(range(65530, 65540)), "sequence unwrapped past 65535"
    assert pcm == b"".join(p.pcm for p in by_sequence) != b"".join(p.pcm for p in packets), \
        "received_pcm puts the late frame back in its place"
    await server.wait_for(lambda: server.guild(GUILD).rejected_packets == 1, timeout=2)
    assert abs(dominant_frequency(pcm[3840 * 2:]) - 440) < 10


async def test_lost_packets_leave_silence_of_their_length(server: VoiceServer, client: RawVoiceClient) -> None:
    await client.handshake()
    encoder = opus.Encoder()
    tone = sine_tone(0.1, 440)
    frames = [encoder.encode(tone[i: i + 3840], 960) for i in range(0, len(tone), 3840)]
    client.send_rtp(100, 0, frames[0])
    client.send_rtp(103, 3 * 960, frames[3])  # 101 and 102 never arrive
    pcm = await server.wait_for_audio(GUILD, seconds=0.04, timeout=3)
    assert len(pcm) == 4 * 3840
    assert pcm[3840: 3 * 3840] == bytes(2 * 3840) and not is_silence(pcm[3 * 3840:])


async def test_resume_replays_the_messages_the_client_missed(server: VoiceServer, client: RawVoiceClient) -> None:
    await client.handshake()
    await server.add_user(GUILD, CHANNEL, ALICE)
    seen = (await client.recv(20))["seq"]  # CLIENTS_CONNECT, flags 18, platform 20: the last of them
    assert client.ws is not None
    await client.ws.close()
    await server.wait_for(lambda: (s := server.session(GUILD)) is not None and s.ws is None, timeout=2)
    await server.add_user(GUILD, CHANNEL, BOB)  # while the client is away

    await client.connect()
    await client.send(7, {"server_id": str(GUILD), "session_id": "sess-1", "token": "voice-token", "seq_ack": seen})
    assert (await client.recv())["op"] == 9
    replayed = await client.recv()
    assert replayed["op"] == 11 and replayed["d"] == {"user_ids": [str(BOB)]} and replayed["seq"] == seen + 1
    session = server.session(GUILD)
    assert session is not None and session.resumes == 1 and session.ssrc == client.ready["ssrc"]


async def test_resume_with_a_forgotten_seq_is_refused(server: VoiceServer, client: RawVoiceClient) -> None:
    await client.handshake()
    await server.add_user(GUILD, CHANNEL, ALICE)
    await client.recv(20)
    assert client.ws is not None
    await client.ws.close()
    await client.connect()
    await client.send(7, {"server_id": str(GUILD), "session_id": "sess-1", "token": "voice-token", "seq_ack": 12345})
    assert await client.close_code() == 4006


async def test_members_already_there_are_announced_after_the_handshake(server: VoiceServer,
                                                                        client: RawVoiceClient) -> None:
    await server.add_user(GUILD, CHANNEL, ALICE)
    await server.add_user(GUILD, CHANNEL + 1, BOB)  # another channel: not the bot's business
    await client.handshake()
    assert (await client.recv(11))["d"] == {"user_ids": [str(ALICE)]}


async def test_end_session_closes_the_bots_voice_websocket(server: VoiceServer, client: RawVoiceClient) -> None:
    await client.handshake()
    server.end_session(GUILD, BOT)
    assert await client.close_code() == 4014
    assert server.session(GUILD) is None
    await client.connect()
    await client.send(0, {"server_id": str(GUILD), "user_id": str(BOT), "session_id": "sess-1", "token": "voice-token"})
    assert await client.close_code() == 4004, "the credentials went with the session"
