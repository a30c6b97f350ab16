"""The receive path (cogs/voice/receive.py) on discord.py's real VoiceClient against the emulator's
voice server: transport decryption, DAVE through the connection's real davey session (the emulator's
humans are real davey sessions in the same MLS group), opus decoding, and the packets it must skip."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import davey
import pytest

from cogs.voice.receive import ReceivingVoiceClient
from devtools.discord_emulator.audio import dominant_frequency, is_silence, sine_tone
from devtools.discord_emulator.voice_rtp import build_rtp
from devtools.discord_emulator.voice_standin import BOT, CHANNEL, GUILD, Harness, discordpy_voice
from services.voice.dave import FrameOpener
from services.voice.rtp import OPUS_SILENCE

ALICE, BOB = 501, 502
FRAME = 3840
TEST_FRAME = b"\xfc" + bytes(range(1, 60))  # opus-looking, not silence (DAVE never encrypts silence)


class Heard:
    def __init__(self) -> None:
        self.frames: dict[int, list[bytes]] = {}
        self.changed = asyncio.Event()

    def __call__(self, user_id: int, pcm: bytes, at: float) -> None:
        self.frames.setdefault(user_id, []).append(pcm)
        self.changed.set()

    async def wait(self, user_id: int, count: int, timeout: float = 5) -> bytes:
        async with asyncio.timeout(timeout):
            while len(self.frames.get(user_id, [])) < count:
                self.changed.clear()
                await self.changed.wait()
        return b"".join(self.frames[user_id])


@pytest.fixture
async def plain(tmp_path: Path) -> AsyncIterator[Harness]:
    async with discordpy_voice(tmp_path) as wired:
        yield wired


@pytest.fixture
async def dave(tmp_path: Path) -> AsyncIterator[Harness]:
    async with discordpy_voice(tmp_path, dave=True) as wired:
        yield wired


async def connect(harness: Harness, audible: tuple[int, ...] = (ALICE, BOB)) -> ReceivingVoiceClient:
    """Connected, hearing `audible` (the cog's consent layer decides who; here the test does)."""
    vc = await harness.channel.connect(timeout=5, reconnect=False, cls=ReceivingVoiceClient)
    assert isinstance(vc, ReceivingVoiceClient)
    vc.audible = frozenset(audible)
    return vc


async def test_a_member_not_let_through_is_never_decrypted_or_decoded(plain: Harness) -> None:
    """Opted out (or not told yet): their packets are dropped by SSRC before transport decryption."""
    await plain.server.add_user(GUILD, CHANNEL, ALICE)
    await plain.server.add_user(GUILD, CHANNEL, BOB)
    vc = await connect(plain, audible=(ALICE,))
    heard = Heard()
    vc.listen(heard)
    await asyncio.gather(plain.server.speak(GUILD, ALICE, sine_tone(0.4, 440)),
                         plain.server.speak(GUILD, BOB, sine_tone(0.4, 880)))
    await heard.wait(ALICE, 20)
    await asyncio.sleep(0.2)
    assert BOB not in heard.frames
    assert vc.skipped["NOT_HEARD"] >= 15 and vc.skipped["DECRYPT"] == 0
    assert vc.decoded == len(heard.frames[ALICE])  # only alice's frames went through opus
    vc.audible = frozenset({ALICE, BOB})  # bob opts back in
    await plain.server.speak(GUILD, BOB, sine_tone(0.4, 880))
    bob = await heard.wait(BOB, 15)
    assert abs(dominant_frequency(bob[2 * FRAME:12 * FRAME]) - 880) < 10
    await vc.disconnect()


async def test_each_members_speech_is_decrypted_and_decoded_separately(plain: Harness) -> None:
    await plain.server.add_user(GUILD, CHANNEL, ALICE)
    await plain.server.add_user(GUILD, CHANNEL, BOB)
    vc = await connect(plain)
    heard = Heard()
    vc.listen(heard)
    await asyncio.gather(plain.server.speak(GUILD, ALICE, sine_tone(0.4, 440)),
                         plain.server.speak(GUILD, BOB, sine_tone(0.4, 880)))
    alice = await heard.wait(ALICE, 25)
    bob = await heard.wait(BOB, 25)
    assert abs(dominant_frequency(alice[2 * FRAME:20 * FRAME]) - 440) < 10
    assert abs(dominant_frequency(bob[2 * FRAME:20 * FRAME]) - 880) < 10
    assert all(len(f) == FRAME for f in heard.frames[ALICE])
    await vc.disconnect()


async def test_rtcp_video_garbage_and_unknown_ssrcs_do_not_reach_the_sink(plain: Harness) -> None:
    await plain.server.add_user(GUILD, CHANNEL, ALICE)
    vc = await connect(plain)
    heard = Heard()
    vc.listen(heard)
    await plain.server.send_rtcp(GUILD, ALICE)
    await plain.server.send_video(GUILD, ALICE)
    session = plain.server.session(GUILD)
    assert session is not None and session.secret_key is not None
    wrong_key = build_rtp(bytes(32), sequence=1, timestamp=0, ssrc=4242, payload=TEST_FRAME, nonce=1)
    assert session.client_addr is not None
    plain.server._sendto(wrong_key, session.client_addr)
    plain.server._sendto(b"\x80\x78garbage", session.client_addr)
    # Audio from an SSRC before its SPEAKING: held, then delivered once SPEAKING maps it.
    early = build_rtp(session.secret_key, sequence=7, timestamp=0, ssrc=9999, payload=OPUS_SILENCE, nonce=99)
    plain.server._sendto(early, session.client_addr)
    await plain.server.speak(GUILD, ALICE, sine_tone(0.1, 440))
    await heard.wait(ALICE, 5)
    assert {"RTCP", "NOT_AUDIO", "DECRYPT", "SHORT"} <= set(vc.skipped)
    assert len(vc._held[9999]) == 1 and BOB not in heard.frames
    await vc._ws_hook(vc.ws, {"op": 5, "d": {"user_id": str(BOB), "ssrc": 9999, "speaking": 1}})
    await heard.wait(BOB, 1)
    await vc.disconnect()


async def _settled(harness: Harness, vc: ReceivingVoiceClient, members: set[int]) -> None:
    def settled() -> bool:
        session = harness.server.session(GUILD)
        dave = session.dave if session is not None else None
        return bool(dave is not None and dave.settled and dave.members == members | {BOT}
                    and vc._connection.can_encrypt and dave.record.executed
                    and dave.record.executed[-1] == dave.record.commits[-1][0])

    await harness.server.wait_for(settled, timeout=5, what="the DAVE group to settle")


async def test_dave_encrypted_speech_is_opened_with_the_connections_davey_session(dave: Harness) -> None:
    await dave.server.add_user(GUILD, CHANNEL, ALICE)
    vc = await connect(dave)
    await _settled(dave, vc, {ALICE})
    heard = Heard()
    vc.listen(heard)
    await dave.server.speak(GUILD, ALICE, sine_tone(0.4, 440))
    pcm = await heard.wait(ALICE, 25)
    assert vc.opener.stats.decrypted >= 18 and vc.opener.stats.failed == 0
    assert abs(dominant_frequency(pcm[2 * FRAME:20 * FRAME]) - 440) < 10
    await vc.disconnect()


async def test_frames_that_cannot_be_opened_become_silence_never_garbage(dave: Harness) -> None:
    await dave.server.add_user(GUILD, CHANNEL, ALICE)
    vc = await connect(dave)
    await _settled(dave, vc, {ALICE})
    server_session = dave.server.session(GUILD)
    assert server_session is not None and server_session.dave is not None
    alice = server_session.dave.humans[ALICE]
    bot = vc._connection.dave_session
    opener = FrameOpener()
    version = vc._connection.dave_protocol_version
    sealed = alice.encrypt_opus(TEST_FRAME)
    assert opener.open(bot, version, ALICE, sealed) == TEST_FRAME  # two real davey sessions, one group
    tampered = bytes([sealed[0] ^ 1]) + sealed[1:]
    assert opener.open(bot, version, ALICE, tampered) == OPUS_SILENCE
    assert opener.open(bot, version, 777, alice.encrypt_opus(TEST_FRAME)) == OPUS_SILENCE  # no decryptor
    assert opener.open(bot, version, ALICE, OPUS_SILENCE) == OPUS_SILENCE
    # An unencrypted frame in an established group, outside any passthrough window: rejected.
    bot.set_passthrough_mode(False, 0)
    assert opener.open(bot, version, ALICE, TEST_FRAME) == OPUS_SILENCE
    # Passthrough on (what discord.py does around a transition): the clear frame goes through.
    bot.set_passthrough_mode(True, 10)
    assert opener.open(bot, version, ALICE, TEST_FRAME) == TEST_FRAME
    assert opener.stats.failed == 3 and opener.stats.decrypted == 1
    # A key change: Bob joins, everyone re-keys; a frame sealed under the old epoch fails to open
    # (or opens, if davey still holds the old key briefly); either way never garbage to the decoder.
    old = alice.encrypt_opus(TEST_FRAME)
    await dave.server.add_user(GUILD, CHANNEL, BOB)
    await _settled(dave, vc, {ALICE, BOB})
    assert opener.open(vc._connection.dave_session, version, ALICE, old) in (TEST_FRAME, OPUS_SILENCE)
    fresh = server_session.dave.humans[BOB].encrypt_opus(TEST_FRAME)
    assert opener.open(vc._connection.dave_session, version, BOB, fresh) == TEST_FRAME
    # Without DAVE on the call, an E2EE frame is not audio we can use.
    assert FrameOpener().open(None, 0, ALICE, sealed) == OPUS_SILENCE
    assert FrameOpener().open(None, 0, ALICE, TEST_FRAME) == TEST_FRAME
    await vc.disconnect()


async def test_undecryptable_frames_reach_the_sink_as_quiet_pcm(dave: Harness) -> None:
    await dave.server.add_user(GUILD, CHANNEL, ALICE)
    vc = await connect(dave)
    await _settled(dave, vc, {ALICE})
    heard = Heard()
    vc.listen(heard)
    vc._users[5555] = ALICE
    from services.voice.rtp import AudioPacket
    vc._deliver(ALICE, AudioPacket(5555, 1, 0, b"\xfc" + bytes(40) + b"\xfa\xfa"))  # looks E2EE, is not
    pcm = await heard.wait(ALICE, 1)
    assert is_silence(pcm) and vc.opener.stats.failed == 1
    assert davey.MediaType.audio is not None
    await vc.disconnect()


def ramp(frames: int, freq: float = 440.0) -> bytes:
    """A tone whose level rises frame by frame: decoded out of order, the levels would not rise."""
    import numpy as np

    t = np.arange(frames * 960) / 48_000
    level = np.repeat(np.linspace(0.05, 0.8, frames), 960)
    mono = (np.sin(2 * np.pi * freq * t) * level * 32767).astype("<i2")
    return np.repeat(mono, 2).tobytes()


def frame_levels(pcm: bytes) -> list[float]:
    import numpy as np

    samples = np.frombuffer(pcm, dtype="<i2").astype(float)
    return [float(np.sqrt(np.mean(samples[i:i + FRAME // 2] ** 2))) for i in range(0, len(samples), FRAME // 2)]


@pytest.fixture(params=["plain", "dave"])
async def either(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Harness]:
    async with discordpy_voice(tmp_path, dave=request.param == "dave") as wired:
        yield wired


async def test_reordered_and_dropped_packets_are_put_back_in_order_and_concealed(either: Harness) -> None:
    harness = either
    await harness.server.add_user(GUILD, CHANNEL, ALICE)
    vc = await connect(harness)
    dave = harness.server.dave
    if dave:
        await _settled(harness, vc, {ALICE})
    heard = Heard()
    vc.listen(heard)
    frames, swap, drop = 50, {5, 12, 20, 33}, {9, 26, 27, 40}
    await harness.server.speak(GUILD, ALICE, ramp(frames), silence_frames=5, swap=swap, drop=drop)
    await heard.wait(ALICE, frames + 5)
    await asyncio.sleep(0.1)
    vc.drain_jitter(10**9)  # nothing may be left behind a gap
    await asyncio.sleep(0.05)
    pcm = b"".join(heard.frames[ALICE])
    assert len(heard.frames[ALICE]) == frames + 5, "lost packets must be concealed, not skipped"
    assert vc.jitter.reordered == len(swap) and vc.jitter.lost == len(drop) and vc.jitter.late == 0
    assert vc.decoding.fec + vc.decoding.plc == len(drop) and vc.decoding.fec >= 2
    levels = frame_levels(pcm)[:frames]
    near_loss = {j for i in drop for j in (i, i + 1, i + 2)}  # concealment is quieter; the decoder then recovers
    for i in range(3, frames - 1):  # opus smooths a little; order shows as levels that keep rising
        if i + 1 not in near_loss:
            assert levels[i + 1] > levels[i] * 0.85, (i, levels[i - 2:i + 3])
    assert all(levels[i] > 0.1 * levels[i - 1] for i in drop), "a concealed packet must not be a hole"
    if dave:
        assert vc.opener.stats.failed == 0 and vc.opener.stats.decrypted > 40
    await vc.disconnect()
