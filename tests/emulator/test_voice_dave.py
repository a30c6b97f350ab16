"""`VoiceServer(dave=True)`: the server's half of DAVE against discord.py 2.7's real DAVE session.

The bot's group forms, re-keys when people join or leave, its audio arrives end-to-end encrypted and
decrypts for the humans, and a human's encrypted speech decrypts with the bot's own session.
"""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import davey
import discord
import pytest

from devtools.discord_emulator.audio import dominant_frequency, sine_tone
from devtools.discord_emulator.certs import make_certificates
from devtools.discord_emulator.voice import VoiceServer
from devtools.discord_emulator.voice_dave import DaveChannel
from devtools.discord_emulator.voice_rtp import parse_rtp
from devtools.discord_emulator.voice_standin import BOT, CHANNEL, GUILD, Harness, discordpy_voice

ALICE, BOB, CAROL = 501, 502, 503
FRAME = 3840
TEST_FRAME = b"\xfc" + bytes(range(1, 60))  # any opus-looking frame but silence, which DAVE never encrypts


@pytest.fixture
async def harness(tmp_path: Path) -> AsyncIterator[Harness]:
    async with discordpy_voice(tmp_path, dave=True) as wired:
        yield wired


async def _settled(harness: Harness, vc: discord.VoiceClient, members: set[int]) -> DaveChannel:
    """Wait until the group holds exactly `members` plus the bot and the last transition was executed."""
    def settled() -> DaveChannel | None:
        session = harness.server.session(GUILD)
        dave = session.dave if session is not None else None
        if dave is None or not dave.settled or dave.members != members | {BOT}:
            return None
        return dave if vc._connection.can_encrypt and dave.record.executed[-1] == dave.record.commits[-1][0] else None

    return await harness.server.wait_for(settled, timeout=5, what=f"a DAVE group of the bot and {sorted(members)}")


def _bot_frame_decrypts_for_everyone(vc: discord.VoiceClient, dave: DaveChannel) -> None:
    bot_session = vc._connection.dave_session
    assert bot_session is not None
    for user_id in dave.members - {BOT}:
        sealed = bot_session.encrypt_opus(TEST_FRAME)
        assert sealed != TEST_FRAME and sealed.endswith(b"\xfa\xfa")
        assert dave.humans[user_id].decrypt(BOT, davey.MediaType.audio, sealed) == TEST_FRAME


async def test_bot_commits_the_first_group_and_its_audio_is_end_to_end_encrypted(harness: Harness) -> None:
    await harness.server.add_user(GUILD, CHANNEL, ALICE)
    vc = await harness.channel.connect(timeout=5, reconnect=False)
    dave = await _settled(harness, vc, {ALICE})
    assert [committer for _, committer in dave.record.commits] == [BOT], "discord.py made the commit"
    assert not dave.record.invalid_commits

    loop = asyncio.get_running_loop()
    done = asyncio.Event()
    vc.play(discord.PCMAudio(io.BytesIO(sine_tone(0.4, 440))), after=lambda _: loop.call_soon_threadsafe(done.set))
    await asyncio.wait_for(done.wait(), 5)
    pcm = await harness.server.wait_for_audio(GUILD, seconds=0.4, timeout=3)
    tone = [p for p in harness.server.packets_from_bot(GUILD) if not p.is_silence]
    assert len(tone) == 20 and all(p.e2ee for p in tone)
    assert dave.record.bot_frames_decrypted == 20 and dave.record.decrypt_failures == 0
    assert abs(dominant_frequency(pcm[2 * FRAME: 20 * FRAME]) - 440) < 10
    await vc.disconnect()


async def test_a_humans_encrypted_speech_decrypts_with_the_bots_dave_session(harness: Harness) -> None:
    await harness.server.add_user(GUILD, CHANNEL, ALICE)
    vc = await harness.channel.connect(timeout=5, reconnect=False)
    await _settled(harness, vc, {ALICE})
    loop = asyncio.get_running_loop()
    received: asyncio.Queue[bytes] = asyncio.Queue()
    vc._connection.add_socket_listener(lambda data: loop.call_soon_threadsafe(received.put_nowait, data))

    await harness.server.speak(GUILD, ALICE, sine_tone(0.2, 440))
    async with asyncio.timeout(3):
        frames = [parse_rtp(bytes(vc.secret_key), await received.get()).payload for _ in range(15)]
    assert all(f.endswith(b"\xfa\xfa") for f in frames[:10]) and frames[10:] == [b"\xf8\xff\xfe"] * 5
    bot_session = vc._connection.dave_session
    assert bot_session is not None
    opus_frames = [bot_session.decrypt(ALICE, davey.MediaType.audio, f) for f in frames[:10]]
    decoder = discord.opus.Decoder()
    pcm = b"".join(decoder.decode(f, fec=False) for f in opus_frames)
    assert abs(dominant_frequency(pcm[2 * FRAME:]) - 440) < 10
    await vc.disconnect()


async def test_an_existing_group_welcomes_the_bot_and_joins_and_leaves_rekey(harness: Harness) -> None:
    await harness.server.add_user(GUILD, CHANNEL, ALICE)
    await harness.server.add_user(GUILD, CHANNEL, BOB)
    vc = await harness.channel.connect(timeout=5, reconnect=False)
    dave = await _settled(harness, vc, {ALICE, BOB})
    committers = [committer for _, committer in dave.record.commits]
    assert committers == [ALICE, ALICE], "the humans' group came first, then a human welcomed the bot (op 30)"
    _bot_frame_decrypts_for_everyone(vc, dave)

    await harness.server.add_user(GUILD, CHANNEL, CAROL)
    await _settled(harness, vc, {ALICE, BOB, CAROL})
    assert dave.record.commits[-1][1] == BOT and dave.epoch == 3
    _bot_frame_decrypts_for_everyone(vc, dave)

    await harness.server.remove_user(GUILD, BOB)
    await _settled(harness, vc, {ALICE, CAROL})
    assert dave.record.commits[-1][1] == BOT and dave.epoch == 4
    _bot_frame_decrypts_for_everyone(vc, dave)
    assert not dave.record.invalid_commits
    await vc.disconnect()


async def test_changes_made_at_once_are_committed_one_after_another(harness: Harness) -> None:
    await harness.server.add_user(GUILD, CHANNEL, ALICE)
    await harness.server.add_user(GUILD, CHANNEL, BOB)
    vc = await harness.channel.connect(timeout=5, reconnect=False)
    await _settled(harness, vc, {ALICE, BOB})
    await harness.server.add_user(GUILD, CHANNEL, CAROL)
    await harness.server.remove_user(GUILD, BOB)  # before Carol's add is committed
    await harness.server.remove_user(GUILD, ALICE)
    dave = await _settled(harness, vc, {CAROL})
    assert dave.epoch == 5 and [c for _, c in dave.record.commits][2:] == [BOT, BOT, BOT]
    _bot_frame_decrypts_for_everyone(vc, dave)
    await vc.disconnect()


async def test_a_client_without_dave_is_refused_with_4017(tmp_path: Path) -> None:
    tls = make_certificates(tmp_path)
    async with VoiceServer(tls.server_context(), dave=True) as server, \
            aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=tls.client_context())) as http:
        server.expect_session(guild_id=GUILD, channel_id=CHANNEL, user_id=BOT, session_id="s", token="t")
        async with http.ws_connect(f"wss://{server.endpoint}/?v=8") as ws:
            await ws.receive()  # HELLO
            await ws.send_str(json.dumps({"op": 0, "d": {"server_id": str(GUILD), "user_id": str(BOT),
                                                         "session_id": "s", "token": "t",
                                                         "max_dave_protocol_version": 0}}))
            await ws.receive()  # READY
            await ws.send_str(json.dumps({"op": 1, "d": {"protocol": "udp", "data": {
                "address": "127.0.0.1", "port": 9, "mode": "aead_xchacha20_poly1305_rtpsize"}}}))
            closing = await ws.receive()
            assert closing.type is aiohttp.WSMsgType.CLOSE and closing.data == 4017
