"""Voice end to end: the real bot on the emulator, a member speaking real speech (Piper), transcribed
by real faster-whisper behind Whisper's API, answered by a local LLM server speaking Ollama's wire
format, spoken by Piper behind Kokoro's API, and decoded by the emulator's voice server."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from cogs.voice import Voice
from cogs.voice.consent import SPOKEN_START
from devtools.discord_emulator import DiscordEmulator
from devtools.discord_emulator.audio import duration, is_silence, rms
from devtools.fakes.engines import KOKORO_RATE, piper_sentences
from devtools.fakes.llm_server import Reply
from devtools.fakes.rvc_servers import FakeRvcPython
from devtools.fakes.speech_servers import FakeKokoro, Fault
from devtools.testenv import CLOSED_PORT_URL

pytestmark = pytest.mark.slow
QUESTION = "What is the capital of France?"


def speech(piper_voice: Any, text: str) -> bytes:
    return b"".join(piper_sentences(piper_voice, text))


async def joined(emu: DiscordEmulator, bot: Any, member: str = "alice") -> None:
    """`member` sits in #Voice and uses /join from #general. The bot's spoken listening notice has been
    played and forgotten, so what a test measures afterwards is what the bot says next."""
    await emu.join_voice(emu.member(member), emu.channel("Voice"))
    inter = await emu.invoke(emu.member(member), emu.channel("general"), "join")
    result = await inter.wait_done(timeout=10)
    assert inter.acknowledged_after < 3
    assert "Joined" in result.text, result.text
    await emu.voice.wait_for_session(emu.guild.id, timeout=10)
    await asyncio.wait_for(cog(bot).sessions[emu.guild.id].consent.wait_spoken(), 30)
    await emu.voice.wait_for_quiet(emu.guild.id)
    emu.voice.forget_audio(emu.guild.id)


async def answer_playing(bot: Any, emu: DiscordEmulator, piper_voice: Any) -> Any:
    """Alice joins, asks QUESTION aloud, and the first second of the answer has been played; the session."""
    await joined(emu, bot)
    await emu.voice.speak(emu.guild.id, emu.member("alice").id, speech(piper_voice, QUESTION),
                          sample_rate=KOKORO_RATE, channels=1)
    await emu.voice.wait_for_audio(emu.guild.id, seconds=1.0, timeout=15)
    return cog(bot).sessions[emu.guild.id]


def cog(bot: Any) -> Voice:
    voice = bot.get_cog("Voice")  # an instance of the module the bot loaded (discord.py may reload it)
    assert voice is not None
    return voice


async def test_join_say_and_leave(voice_bot, emulator: DiscordEmulator, piper_voice) -> None:
    bot = await voice_bot()
    inter = await emulator.invoke(emulator.member("carol"), emulator.channel("general"), "join")
    assert "Join a voice channel first" in (await inter.wait_done(timeout=5)).text
    await joined(emulator, bot)
    text = "Hello there, this is the bot speaking."
    expected = sum(len(c) for c in piper_sentences(piper_voice, text)) / 2 / KOKORO_RATE
    inter = await emulator.invoke(emulator.member("alice"), emulator.channel("general"), "say", text=text)
    result = await inter.wait_done(timeout=10)
    assert inter.acknowledged_after < 3 and "Saying it" in result.text
    session = cog(bot).sessions[emulator.guild.id]
    pcm = await emulator.voice.wait_for_audio(emulator.guild.id, seconds=expected * 0.9, timeout=15)
    await asyncio.wait_for(session.queue.wait_idle(), 10)
    pcm = emulator.voice.received_pcm(emulator.guild.id)
    assert expected - 0.1 < duration(pcm) < expected + 0.6, (duration(pcm), expected)
    assert not is_silence(pcm) and rms(pcm) > 500

    inter = await emulator.invoke(emulator.member("alice"), emulator.channel("general"), "leave")
    assert "Left" in (await inter.wait_done(timeout=10)).text
    assert emulator.guild.id not in cog(bot).sessions


async def test_spoken_question_is_transcribed_answered_and_played_sentence_by_sentence(
        voice_bot, emulator: DiscordEmulator, piper_voice, whisper, kokoro, llm) -> None:
    first, second = "Paris is the capital of France.", "It is famous for the Eiffel Tower and good food."
    llm.queue(Reply(text=f"{first} {second}", token_delay=0.15))
    bot = await voice_bot()
    await joined(emulator, bot)
    alice = emulator.member("alice")
    await emulator.voice.speak(emulator.guild.id, alice.id, speech(piper_voice, QUESTION),
                               sample_rate=KOKORO_RATE, channels=1)
    await whisper.wait_for("transcribe", 1, timeout=10)
    wav = whisper.last("transcribe").fields["file"].data
    assert wav[:4] == b"RIFF" and len(wav) > 16_000  # the member's speech, not silence: > 0.5 s at 16 kHz
    await llm.wait_for_chat_requests(1, timeout=10)
    messages = llm.chat_requests[0].json["messages"]
    assert "capital" in messages[-1]["content"].lower() and "france" in messages[-1]["content"].lower()
    # The first sentence plays while the model is still writing the second.
    await emulator.voice.wait_for_audio(emulator.guild.id, seconds=0.3, timeout=10)
    assert llm.in_flight == 1, "the answer started playing only after the model finished"
    expected = sum(len(c) for s in (first, second) for c in piper_sentences(piper_voice, s)) / 2 / KOKORO_RATE
    await emulator.voice.wait_for_audio(emulator.guild.id, seconds=expected * 0.9, timeout=15)
    assert [r.json["input"] for r in kokoro.requests if r.route == "speech"] == [SPOKEN_START, first, second]
    transcript = await emulator.wait_for_message(emulator.channel("Voice"),
                                                 lambda m: "alice" in m.content.lower() and "France" in m.content, timeout=5)
    assert "🎙️" in transcript.content
    spoken = await emulator.wait_for_message(emulator.channel("Voice"), lambda m: m.content.startswith("🔊 Paris"),
                                             timeout=15)  # posted once the answer has been played and stored
    assert spoken.content == f"🔊 {first} {second}"
    assert not cog(bot).sessions[emulator.guild.id].queue.busy
    turns = await bot.services.conversations.recent(emulator.channel("Voice").id, 3000, kind="voice")
    assert [(t.role, t.status) for t in turns] == [("user", "complete"), ("assistant", "complete")]
    assert turns[1].content == f"{first} {second}"


async def test_barge_in_stops_playback_and_records_the_answer_as_interrupted(
        voice_bot, emulator: DiscordEmulator, piper_voice, llm) -> None:
    long_answer = " ".join(f"This is sentence number {n} of a long answer." for n in range(1, 7))
    llm.queue(Reply(text=long_answer), Reply(text="Okay.", first_token_delay=4))
    bot = await voice_bot()
    session = await answer_playing(bot, emulator, piper_voice)
    guild_id, alice = emulator.guild.id, emulator.member("alice")
    speaking = asyncio.create_task(emulator.voice.speak(guild_id, alice.id, speech(piper_voice, "Stop, please."),
                                                        sample_rate=KOKORO_RATE, channels=1))
    await emulator.wait_until(lambda: session.barge_ins == 1, timeout=5, message="a barge-in")
    await emulator.wait_until(lambda: not session.queue.busy, timeout=2, message="playback to stop")
    heard_at_stop = emulator.voice.guild(guild_id).pcm_bytes
    await speaking
    await llm.wait_for_chat_requests(2, timeout=10)  # the barge-in utterance was heard and is being answered
    grown = (emulator.voice.guild(guild_id).pcm_bytes - heard_at_stop) / 192_000
    assert grown < 0.3, f"{grown:.2f} s more audio after the barge-in"
    full = sum(len(c) for c in piper_sentences(piper_voice, long_answer)) / 2 / KOKORO_RATE
    assert heard_at_stop / 192_000 < full - 1
    turns = await bot.services.conversations.recent(emulator.channel("Voice").id, 3000, kind="voice")
    interrupted = [t for t in turns if t.status == "interrupted"]
    assert len(interrupted) == 1 and interrupted[0].role == "assistant"
    assert interrupted[0].content.startswith("This is sentence number 1")


async def test_with_barge_in_off_the_answer_plays_to_the_end_and_the_interruption_is_answered_after(
        voice_bot, emulator: DiscordEmulator, piper_voice, llm) -> None:
    long_answer = " ".join(f"This is sentence number {n} of a long answer." for n in range(1, 4))
    llm.queue(Reply(text=long_answer), Reply(text="Okay."))
    bot = await voice_bot(voice_barge_in=False)
    session = await answer_playing(bot, emulator, piper_voice)
    guild_id, alice = emulator.guild.id, emulator.member("alice")
    await emulator.voice.speak(guild_id, alice.id, speech(piper_voice, "Stop, please."), sample_rate=KOKORO_RATE,
                               channels=1)
    await llm.wait_for_chat_requests(2, timeout=15)  # the interruption was heard and is answered
    full = sum(len(c) for c in piper_sentences(piper_voice, long_answer)) / 2 / KOKORO_RATE
    okay = sum(len(c) for c in piper_sentences(piper_voice, "Okay.")) / 2 / KOKORO_RATE
    await emulator.voice.wait_for_audio(guild_id, seconds=(full + okay) * 0.95, timeout=20)
    assert session.barge_ins == 0
    turns = await bot.services.conversations.recent(emulator.channel("Voice").id, 3000, kind="voice")
    assert [t.content for t in turns if t.role == "assistant" and t.status == "complete"][:1] == [long_answer]
    assert not [t for t in turns if t.status == "interrupted"]


async def test_rvc_converts_what_is_spoken_and_a_failing_rvc_falls_back_to_the_plain_voice(
        voice_bot, emulator: DiscordEmulator, piper_voice, caplog) -> None:
    guild_id, general, alice = emulator.guild.id, emulator.channel("general"), emulator.member("alice")
    text = "This voice went through the converter."
    expected = sum(len(c) for c in piper_sentences(piper_voice, text)) / 2 / KOKORO_RATE
    async with FakeRvcPython(models=("alice",), gain=0.25) as rvc:
        bot = await voice_bot(rvc_api_url=rvc.url, rvc_model="alice")
        await joined(emulator, bot)
        session = cog(bot).sessions[guild_id]
        notices = rvc.count("convert")  # the listening notice went through RVC too

        async def say() -> bytes:
            before = len(emulator.voice.received_pcm(guild_id))
            sent_before = len(emulator.voice.packets_from_bot(guild_id))
            inter = await emulator.invoke(alice, general, "say", text=text)
            assert "Saying it" in (await inter.wait_done(timeout=10)).text
            await emulator.voice.wait_for_audio(guild_id, seconds=before / 192_000 + expected * 0.9, timeout=15)
            await asyncio.wait_for(session.queue.wait_idle(), 10)
            # The packets that arrived, not received_pcm's slice: a packet lost under load before this
            # /say would be padded as silence into it.
            return b"".join(p.pcm for p in emulator.voice.packets_from_bot(guild_id)[sent_before:])

        converted = await say()
        assert rvc.loaded == "alice" and rvc.count("convert") == notices + 1
        assert expected - 0.1 < duration(converted) < expected + 0.6

        # Failing on every retry too: the sentence is still spoken, in the unconverted voice.
        rvc.script("convert", *[Fault(status=500, json_body={"detail": "An error occurred: CUDA out of memory"})] * 10)
        plain = await say()
        assert rvc.count("convert") >= notices + 2
        assert expected - 0.1 < duration(plain) < expected + 0.6
        assert 3 < rms(plain) / rms(converted) < 5, "the first /say did not play the converted voice"
        assert any("RVC failed" in r.getMessage() for r in caplog.records)


async def test_tts_down_posts_the_answer_as_text(voice_bot, emulator: DiscordEmulator, piper_voice, llm) -> None:
    llm.queue(Reply(text="Paris is the capital of France."))
    bot = await voice_bot(kokoro_api_url=CLOSED_PORT_URL)
    await joined(emulator, bot)
    await emulator.voice.speak(emulator.guild.id, emulator.member("alice").id, speech(piper_voice, QUESTION),
                               sample_rate=KOKORO_RATE, channels=1)
    answer = await emulator.wait_for_message(emulator.channel("Voice"),
                                             lambda m: m.content == "Paris is the capital of France.", timeout=15)
    assert answer.versions[0].allowed_mentions is not None
    assert emulator.voice.guild(emulator.guild.id).pcm_bytes == 0


async def test_stt_down_says_once_that_voice_input_is_unavailable(
        voice_bot, emulator: DiscordEmulator, piper_voice, llm) -> None:
    bot = await voice_bot(whisper_api_url=CLOSED_PORT_URL)
    await joined(emulator, bot)
    await emulator.voice.speak(emulator.guild.id, emulator.member("alice").id, speech(piper_voice, QUESTION),
                               sample_rate=KOKORO_RATE, channels=1)
    await emulator.wait_for_message(emulator.channel("Voice"),
                                    lambda m: "Voice input is unavailable" in m.content, timeout=15)
    assert not llm.chat_requests


async def test_leaves_when_alone_for_the_idle_timeout(voice_bot, emulator: DiscordEmulator) -> None:
    bot = await voice_bot(voice_idle_timeout=1)
    await joined(emulator, bot)
    await emulator.leave_voice(emulator.member("alice"))
    await emulator.wait_until(lambda: emulator.guild.id not in cog(bot).sessions and not bot.voice_clients,
                              timeout=8, message="the bot to leave its empty channel")


@pytest.mark.parametrize(("code", "rejoined_by"), [(1006, "discord.py"), (4015, "the cog")])
async def test_a_dropped_voice_connection_comes_back_and_still_hears(
        voice_bot, emulator: DiscordEmulator, piper_voice, whisper, llm, code: int, rejoined_by: str) -> None:
    """1006: discord.py reconnects by itself (its socket reader must not hang on the old socket).
    4015: discord.py 2.7.1's voice resume times out and it leaves; the cog joins again."""
    llm.queue(Reply(text="Paris."))
    bot = await voice_bot()
    await joined(emulator, bot)
    guild_id = emulator.guild.id
    before = cog(bot).sessions[guild_id]
    old_ws = emulator.voice.session(guild_id).ws
    await emulator.voice.close_connection(guild_id, code=code, reason="voice server restarting")
    await emulator.voice.wait_for(lambda: (s := emulator.voice.session(guild_id)) is not None and s.ws is not None
                                  and s.ws is not old_ws and s.secret_key is not None, timeout=30,
                                  what="the bot to reconnect")
    await emulator.wait_until(lambda: guild_id in cog(bot).sessions and cog(bot).sessions[guild_id].vc.is_connected(),
                              timeout=10, message="a connected session")
    assert (cog(bot).sessions[guild_id] is before) == (rejoined_by == "discord.py")
    await emulator.voice.speak(guild_id, emulator.member("alice").id, speech(piper_voice, QUESTION),
                               sample_rate=KOKORO_RATE, channels=1)
    await whisper.wait_for("transcribe", 1, timeout=15)
    await llm.wait_for_chat_requests(1, timeout=10)
    await emulator.voice.wait_for_audio(guild_id, seconds=0.5, timeout=15)
    assert not [m for m in emulator.records.messages.values() if "lost the voice connection" in m.content]


async def test_a_bot_disconnected_by_a_moderator_stays_out_and_says_so(voice_bot, emulator: DiscordEmulator) -> None:
    bot = await voice_bot()
    await joined(emulator, bot)
    await emulator.disconnect_bot_from_voice()
    await emulator.wait_for_message(emulator.channel("Voice"),
                                    lambda m: "I was disconnected from **Voice**" in m.content, timeout=10)
    await emulator.wait_until(lambda: emulator.guild.id not in cog(bot).sessions and not bot.voice_clients,
                              timeout=5, message="the session to end")
    await asyncio.sleep(1.5)  # past the first rejoin delay: nothing may come back
    assert emulator.bot_member().voice is None and not bot.voice_clients


async def test_the_system_prompt_file_reaches_a_voice_answer(voice_bot, emulator: DiscordEmulator, piper_voice, llm,
                                                             tmp_path) -> None:
    prompt = tmp_path / "persona.txt"
    prompt.write_text("You are Captain Ahab, a sea captain.\n", encoding="utf-8")
    llm.queue(Reply(text="Paris, matey."))
    bot = await voice_bot(chat_system_prompt="The default prompt.", chat_system_prompt_file=str(prompt))
    await joined(emulator, bot)
    await emulator.voice.speak(emulator.guild.id, emulator.member("alice").id, speech(piper_voice, QUESTION),
                               sample_rate=KOKORO_RATE, channels=1)
    await llm.wait_for_chat_requests(1, timeout=15)
    system = llm.chat_requests[0].json["messages"][0]
    assert system["role"] == "system"
    assert system["content"].startswith("You are Captain Ahab, a sea captain. You are talking in a voice call")
    assert "default prompt" not in system["content"]


async def test_a_say_spoken_over_still_answers_its_interaction(voice_bot, emulator: DiscordEmulator, piper_voice,
                                                               llm) -> None:
    """Barge-in during /say stops it; the member who used /say is told, within the interaction."""
    llm.default = Reply(text="Okay.")
    guild_id, alice, general = emulator.guild.id, emulator.member("alice"), emulator.channel("general")
    async with FakeKokoro() as kokoro:
        bot = await voice_bot(kokoro_api_url=kokoro.url)
        await joined(emulator, bot)
        session = cog(bot).sessions[guild_id]
        kokoro.script("speech", Fault(hold_after=48_000))  # one second, then the rest waits for release
        inter = await emulator.invoke(alice, general, "say", text="A long announcement. " * 20)
        await emulator.voice.wait_for_audio(guild_id, seconds=0.2, timeout=10)
        await emulator.voice.speak(guild_id, alice.id, speech(piper_voice, "Stop, please."), sample_rate=KOKORO_RATE,
                                   channels=1)
        await emulator.wait_until(lambda: session.barge_ins == 1, timeout=5, message="a barge-in")
        kokoro.release.set()
        result = await inter.wait_done(timeout=10)
        assert inter.acknowledged_after < 3
        assert "someone spoke over me" in result.text, result.text
