"""The voice server against discord.py 2.7's real VoiceClient: handshake, playback, heartbeats, receive
(wired without the gateway emulator, see voice_standin.py)."""

from __future__ import annotations

import asyncio
import io
import itertools
import statistics
from collections.abc import AsyncIterator
from pathlib import Path

import davey
import discord
import pytest

from devtools.discord_emulator.audio import dominant_frequency, duration, is_silence, sine_tone
from devtools.discord_emulator.voice_rtp import parse_rtp
from devtools.discord_emulator.voice_standin import CHANNEL, GUILD, Harness, discordpy_voice

ALICE = 444
FRAME = 3840  # bytes of one 20 ms 48 kHz stereo frame


@pytest.fixture
async def harness(tmp_path: Path) -> AsyncIterator[Harness]:
    async with discordpy_voice(tmp_path, heartbeat_interval_ms=150) as wired:
        yield wired


async def test_discordpy_completes_the_handshake_and_leaves_cleanly(harness: Harness) -> None:
    vc = await harness.channel.connect(timeout=5, reconnect=False)
    assert vc.is_connected()
    assert vc.mode == "aead_xchacha20_poly1305_rtpsize", "discord.py skips the AES-GCM mode it lacks"
    session = harness.server.session(GUILD)
    assert session is not None and session.ready
    assert session.ssrc == vc.ssrc and bytes(vc.secret_key) == session.secret_key
    assert session.client_addr == session.discovered_addr, "it selected the address IP discovery reported"
    identify = next(payload for _, payload in harness.server.ops_received if payload["op"] == 0)
    assert identify["d"]["max_dave_protocol_version"] == davey.DAVE_PROTOCOL_VERSION
    await harness.server.wait_for(lambda: session.speaking == 0, timeout=2)  # the SSRC announcement

    async with asyncio.timeout(3):  # well under discord.py's own 5 s wait: no double disconnect
        await vc.disconnect()
    assert harness.server.session(GUILD) is None
    assert not vc.is_connected()


async def test_played_audio_arrives_decoded_paced_and_announced(harness: Harness) -> None:
    vc = await harness.channel.connect(timeout=5, reconnect=False)
    loop = asyncio.get_running_loop()
    finished = asyncio.Event()
    vc.play(discord.PCMAudio(io.BytesIO(sine_tone(1.0, 440))), after=lambda _: loop.call_soon_threadsafe(finished.set))
    await harness.server.wait_for_audio(GUILD, seconds=1.0, timeout=5)
    await asyncio.wait_for(finished.wait(), 5)
    await harness.server.wait_for(lambda: len(harness.server.packets_from_bot(GUILD)) >= 55, timeout=2)

    packets = harness.server.packets_from_bot(GUILD)
    tone = [p for p in packets if not p.is_silence]
    assert len(tone) == 50 and len(packets) == 55
    assert all(p.is_silence for p in packets[-5:]), "discord.py ends with five opus silence frames"
    assert all(p.ssrc == vc.ssrc for p in packets)
    assert [p.sequence for p in packets] == [(packets[0].sequence + i) & 0xFFFF for i in range(55)]
    assert all(b.timestamp - a.timestamp == 960 for a, b in itertools.pairwise(packets))
    gaps = [b.arrival - a.arrival for a, b in itertools.pairwise(tone)]
    assert 0.015 < statistics.median(gaps) < 0.025
    assert 0.9 < tone[-1].arrival - tone[0].arrival < 1.2  # 49 gaps of 20 ms, in real time

    session = harness.server.session(GUILD)
    assert session is not None
    flags = [f for _, f in session.speaking_log]
    assert flags[0] == 0 and 1 in flags and flags[-1] == 0, flags
    assert sum(p.speaking == 1 for p in tone) >= 45, "SPEAKING 1 came before (nearly) all the audio"

    pcm = harness.server.received_pcm(GUILD)
    assert len(pcm) == 55 * FRAME
    spoken = pcm[: 50 * FRAME]
    assert abs(duration(spoken) - 1.0) < 1e-9 and not is_silence(spoken)
    assert abs(dominant_frequency(spoken[2 * FRAME:]) - 440) < 10
    assert is_silence(pcm[-4 * FRAME:])
    await vc.disconnect()


async def test_heartbeats_are_acked_and_carry_seq_ack(harness: Harness) -> None:
    vc = await harness.channel.connect(timeout=5, reconnect=False)
    session = await harness.server.wait_for_session(GUILD, timeout=2)
    await harness.server.add_user(GUILD, CHANNEL, ALICE)  # numbered messages: CLIENTS_CONNECT & co
    await harness.server.wait_for(
        lambda: len(session.heartbeats) >= 3 and session.heartbeats[-1].payload.get("seq_ack") == session.seq,
        timeout=3, what="three heartbeats, the last acknowledging every numbered message")
    assert session.seq > 0
    await harness.server.wait_for(lambda: vc.latency < 1.0, timeout=2, what="an acked heartbeat")
    assert vc.ws.seq_ack == session.seq
    await vc.disconnect()


async def test_a_users_speech_reaches_discordpys_socket_encrypted_for_it(harness: Harness) -> None:
    vc = await harness.channel.connect(timeout=5, reconnect=False)
    loop = asyncio.get_running_loop()
    received: asyncio.Queue[bytes] = asyncio.Queue()
    vc._connection.add_socket_listener(lambda data: loop.call_soon_threadsafe(received.put_nowait, data))
    ssrc = await harness.server.add_user(GUILD, CHANNEL, ALICE)
    await harness.server.speak(GUILD, ALICE, sine_tone(0.2, 440))
    async with asyncio.timeout(3):
        datagrams = [await received.get() for _ in range(15)]
    packets = [parse_rtp(bytes(vc.secret_key), data) for data in datagrams]
    assert {p.ssrc for p in packets} == {ssrc}
    assert [p.sequence for p in packets] == [(packets[0].sequence + i) & 0xFFFF for i in range(15)]
    decoder = discord.opus.Decoder()
    pcm = b"".join(decoder.decode(p.payload, fec=False) for p in packets[:10])
    assert abs(dominant_frequency(pcm[2 * FRAME:]) - 440) < 10
    assert vc.ws.seq_ack == harness.server.session(GUILD).seq  # type: ignore[union-attr]  # it saw op 11 and op 5
    await vc.disconnect()


async def test_a_wrong_voice_token_is_refused_with_4004(harness: Harness) -> None:
    harness.gateway.token_override = "not-the-token"
    with pytest.raises(discord.ConnectionClosed) as refused:
        await harness.channel.connect(timeout=5, reconnect=False)
    assert refused.value.code == 4004
    assert harness.server.closes[-1] == (4004, "authentication failed")
