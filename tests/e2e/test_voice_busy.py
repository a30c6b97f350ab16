"""Voice in a busy, noisy channel, end to end, with DAVE off and on: the real bot on the emulator,
members speaking real speech (Piper) and real noise, real faster-whisper behind Whisper's API.

Noise (hum, music-like chords, clicks) makes no STT request; speech over a lossy network (packets
dropped and reordered in flight) is put back in order and concealed, and still understood; in
`name` mode talk between members is ignored and a turn that names the bot is answered; two members
talking at once get two answers, each to their own words."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from devtools.discord_emulator import DiscordEmulator
from devtools.fakes import noise
from devtools.fakes.engines import KOKORO_RATE, PiperKokoroServer, WhisperEngineServer
from devtools.fakes.llm_server import FakeLLMServer, Reply
from tests.e2e.test_voice import QUESTION, cog, joined, speech

pytestmark = [pytest.mark.slow,
              pytest.mark.parametrize("emulator", [{}, {"voice_options": {"dave": True}}], indirect=True,
                                      ids=["plain", "dave"])]


async def dave_settled(emulator: DiscordEmulator) -> None:
    dave = emulator.voice.session(emulator.guild.id).dave
    if dave is not None:
        await emulator.voice.wait_for(lambda: dave.settled and dave.record.executed, timeout=5,
                                      what="the DAVE group with the members and the bot")


def check_dave(bot: Any, emulator: DiscordEmulator) -> None:
    """With DAVE on, what the bot heard went through end-to-end decryption, and nothing failed."""
    vc = cog(bot).sessions[emulator.guild.id].vc
    if emulator.voice.dave:
        assert vc.opener.stats.decrypted > 40 and vc.opener.stats.failed == 0


async def test_hum_music_and_clicks_make_no_stt_request(voice_bot: Any, emulator: DiscordEmulator, piper_voice: Any,
                                                        whisper: WhisperEngineServer, llm: FakeLLMServer) -> None:
    llm.queue(Reply(text="Paris."))
    bot = await voice_bot()
    await joined(emulator, bot)
    await dave_settled(emulator)
    guild_id, alice = emulator.guild.id, emulator.member("alice").id
    vc = cog(bot).sessions[guild_id].vc
    for sound in (noise.hum(mains=60), noise.chords(), noise.clicks()):
        await emulator.voice.speak(guild_id, alice, sound, sample_rate=48_000, channels=1)
    await asyncio.sleep(1.0)  # past the candidate pause and the full silence
    assert vc.decoded > 400, f"the noise reached the bot: {vc.decoded} frames, jitter {vc.jitter}"
    session = cog(bot).sessions[guild_id]
    assert whisper.count("transcribe") == 0 and not llm.chat_requests, session.turns.stats
    # The same member, speaking now, is heard at once.
    await emulator.voice.speak(guild_id, alice, speech(piper_voice, QUESTION), sample_rate=KOKORO_RATE, channels=1)
    await llm.wait_for_chat_requests(1, timeout=15)
    assert "capital" in llm.chat_requests[0].json["messages"][-1]["content"].lower()
    check_dave(bot, emulator)


async def test_speech_over_a_lossy_network_is_reordered_concealed_and_understood(
        voice_bot: Any, emulator: DiscordEmulator, piper_voice: Any, llm: FakeLLMServer) -> None:
    llm.queue(Reply(text="Paris."))
    bot = await voice_bot()
    await joined(emulator, bot)
    await dave_settled(emulator)
    guild_id, alice = emulator.guild.id, emulator.member("alice").id
    swap, drop = {10, 25, 40, 60, 75}, {15, 33, 50, 68}
    await emulator.voice.speak(guild_id, alice, speech(piper_voice, QUESTION), sample_rate=KOKORO_RATE, channels=1,
                               swap=swap, drop=drop)
    await llm.wait_for_chat_requests(1, timeout=15)
    asked = llm.chat_requests[0].json["messages"][-1]["content"].lower()
    assert "capital" in asked and "france" in asked
    vc = cog(bot).sessions[guild_id].vc
    assert emulator.voice.guild(guild_id).dropped_packets == len(drop)
    assert vc.jitter.reordered == len(swap) and vc.jitter.lost == len(drop) and vc.jitter.late == 0
    assert vc.decoding.fec + vc.decoding.plc == len(drop)
    check_dave(bot, emulator)


async def test_in_name_mode_only_turns_that_name_the_bot_are_answered(
        voice_bot: Any, emulator: DiscordEmulator, piper_voice: Any, whisper: WhisperEngineServer,
        llm: FakeLLMServer) -> None:
    llm.queue(Reply(text="Paris is the capital of France."))
    bot = await voice_bot()
    guild_id, alice, general = emulator.guild.id, emulator.member("alice"), emulator.channel("general")
    saved = await (await emulator.invoke(alice, general, "voice", address="name", wake_word="Jarvis")).wait_done(
        timeout=5)
    assert "answers: name" in saved.text and "wake word: `Jarvis`" in saved.text
    await joined(emulator, bot)
    await dave_settled(emulator)
    await emulator.voice.speak(guild_id, alice.id, speech(piper_voice, "Did you watch the game last night?"),
                               sample_rate=KOKORO_RATE, channels=1)
    await whisper.wait_for("transcribe", 1, timeout=10)  # heard and transcribed, then ignored
    await asyncio.sleep(1.0)
    assert not llm.chat_requests
    assert not [m for m in emulator.records.messages.values() if "game last night" in m.content.lower()]
    await emulator.voice.speak(guild_id, alice.id, speech(piper_voice, "Jarvis, " + QUESTION),
                               sample_rate=KOKORO_RATE, channels=1)
    await llm.wait_for_chat_requests(1, timeout=15)
    assert "jarvis" in llm.chat_requests[0].json["messages"][-1]["content"].lower()
    call = emulator.channel("Voice")
    await emulator.wait_for_message(call, lambda m: m.content.startswith("🔊"), timeout=15)  # played, stored
    turns = await bot.services.conversations.recent(call.id, 3000, kind="voice")
    assert [t.role for t in turns] == ["user", "assistant"] and "game" not in turns[0].content
    check_dave(bot, emulator)


async def test_two_members_talking_at_once_are_answered_one_after_the_other_not_merged(
        voice_bot: Any, emulator: DiscordEmulator, piper_voice: Any, llm: FakeLLMServer,
        kokoro: PiperKokoroServer) -> None:
    llm.queue(Reply(text="It is noon."), Reply(text="It is Monday."))
    bot = await voice_bot(voice_barge_in=False)
    await emulator.join_voice(emulator.member("bob"), emulator.channel("Voice"))
    await joined(emulator, bot)
    await dave_settled(emulator)
    notices = len(kokoro.requests)  # the spoken listening notice
    guild_id, alice, bob = emulator.guild.id, emulator.member("alice"), emulator.member("bob")
    await asyncio.gather(
        emulator.voice.speak(guild_id, alice.id, speech(piper_voice, "What time is it now?"),
                             sample_rate=KOKORO_RATE, channels=1),
        emulator.voice.speak(guild_id, bob.id, speech(piper_voice, "What day is it today?"),
                             sample_rate=KOKORO_RATE, channels=1))
    await llm.wait_for_chat_requests(2, timeout=20)
    asked = sorted(r.json["messages"][-1]["content"].lower() for r in llm.chat_requests)
    assert asked[0].startswith("alice:") and "time" in asked[0] and "day" not in asked[0]
    assert asked[1].startswith("bob:") and "day" in asked[1] and "time" not in asked[1]
    await emulator.wait_until(lambda: [r.json["input"] for r in kokoro.requests[notices:] if r.route == "speech"]
                              in (["It is noon.", "It is Monday."], ["It is Monday.", "It is noon."]),
                              timeout=15, message="both answers spoken, one after the other")
    check_dave(bot, emulator)
