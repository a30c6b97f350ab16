"""Voice with DAVE on: the emulator's voice server runs Discord's end-to-end encryption with real
davey sessions for the humans, so the bot must open each member's E2EE frames with its own session
to hear them, and its answer must reach them end-to-end encrypted."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from devtools.discord_emulator import DiscordEmulator
from devtools.discord_emulator.certs import TestCertificates
from devtools.fakes.engines import KOKORO_RATE
from devtools.fakes.llm_server import FakeLLMServer, Reply
from tests.e2e.test_voice import QUESTION, joined, speech

pytestmark = pytest.mark.slow


@pytest.fixture
async def emulator(discord_certificates: TestCertificates) -> AsyncIterator[DiscordEmulator]:
    """The shared fixture's emulator, with DAVE required on voice."""
    emu = DiscordEmulator(certificates=discord_certificates, voice_options={"dave": True})
    await emu.start()
    try:
        yield emu
    finally:
        await emu.stop()
    emu.check()


async def test_encrypted_speech_is_heard_and_the_answer_is_spoken_encrypted(
        voice_bot: Any, emulator: DiscordEmulator, piper_voice: Any, llm: FakeLLMServer) -> None:
    bot = await joined_with_an_answer_queued(voice_bot, emulator, llm)
    guild_id = emulator.guild.id
    dave = emulator.voice.session(guild_id).dave
    await emulator.voice.wait_for(lambda: dave.settled and dave.record.executed, timeout=5,
                                  what="the DAVE group with alice and the bot")
    await ask_and_hear_encrypted(bot, emulator, piper_voice, llm)
    assert dave.record.bot_frames_decrypted > 40 and dave.record.decrypt_failures == 0


async def joined_with_an_answer_queued(voice_bot: Any, emulator: DiscordEmulator,
                                       llm: FakeLLMServer) -> Any:
    llm.queue(Reply(text="Paris is the capital of France."))
    bot = await voice_bot()
    await joined(emulator, bot)
    return bot


async def ask_and_hear_encrypted(bot: Any, emulator: DiscordEmulator, piper_voice: Any,
                                 llm: FakeLLMServer) -> None:
    """Alice asks QUESTION through DAVE; the bot hears it, and its answer starts playing."""
    guild_id = emulator.guild.id
    await emulator.voice.speak(guild_id, emulator.member("alice").id, speech(piper_voice, QUESTION),
                               sample_rate=KOKORO_RATE, channels=1)
    await llm.wait_for_chat_requests(1, timeout=15)
    assert "capital" in llm.chat_requests[0].json["messages"][-1]["content"].lower()
    vc = bot.get_cog("Voice").sessions[guild_id].vc
    assert vc.opener.stats.decrypted > 20 and vc.opener.stats.failed == 0
    await emulator.voice.wait_for_audio(guild_id, seconds=1.0, timeout=15)


async def test_after_a_dropped_connection_a_new_dave_group_is_formed_and_speech_heard(
        voice_bot: Any, emulator: DiscordEmulator, piper_voice: Any, llm: FakeLLMServer) -> None:
    bot = await joined_with_an_answer_queued(voice_bot, emulator, llm)
    guild_id = emulator.guild.id
    first = emulator.voice.session(guild_id)
    await emulator.voice.wait_for(lambda: first.dave.settled, timeout=5, what="the first DAVE group")
    await emulator.voice.close_connection(guild_id, code=1006, reason="voice server restarting")
    await emulator.voice.wait_for(lambda: (s := emulator.voice.session(guild_id)) is not None and s is not first
                                  and s.dave is not None and s.dave.settled and s.dave.record.executed,
                                  timeout=20, what="a new DAVE group after the reconnect")
    await ask_and_hear_encrypted(bot, emulator, piper_voice, llm)
    second = emulator.voice.session(guild_id)
    assert second.dave.record.bot_frames_decrypted > 40 and second.dave.record.decrypt_failures == 0
