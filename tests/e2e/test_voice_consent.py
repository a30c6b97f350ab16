"""Voice consent and control, end to end, tried as a hostile member would: the real bot on the local
Discord, real speech (Piper) transcribed by real faster-whisper, answered by a local model server.

People in a call are told the bot listens (in the call's chat and aloud) before they are heard, also
when they join later; an opted-out member's audio never reaches speech recognition; transcripts never
go where someone in the call cannot read; only people in the bot's call (or with Move Members) control it.
"""

from __future__ import annotations

import asyncio
import gc
import logging
from typing import Any

import discord
import pytest

from devtools.discord_emulator import DiscordEmulator
from devtools.discord_emulator import permissions as perms
from devtools.discord_emulator.world import ChannelType
from devtools.fakes.engines import KOKORO_RATE
from devtools.fakes.llm_server import Reply
from services.voice import Utterance
from tests.e2e.test_voice import QUESTION, cog, joined, speech

pytestmark = pytest.mark.slow
MOVE_MEMBERS = discord.Permissions(move_members=True).value


def bot_posts(emu: DiscordEmulator, channel: Any) -> list[Any]:
    """What the bot posted there by itself (not answers to interactions)."""
    return [m for m in emu.bot_messages(channel) if m.interaction_id is None and m.webhook_id is None]


async def test_join_from_a_hidden_channel_sends_nothing_there(voice_bot, emulator: DiscordEmulator, piper_voice,
                                                              whisper, llm) -> None:
    """The attack of the issue: /join from a channel only the caller reads, then everyone else's speech is
    transcribed into it. Now transcripts go to the call's own chat, and everyone there is told first."""
    llm.queue(Reply(text="Paris."))
    bot = await voice_bot()
    alice, carol, voice = emulator.member("alice"), emulator.member("carol"), emulator.channel("Voice")
    secret = await emulator.add_channel("secret")
    await emulator.set_permissions(secret, emulator.guild.everyone_role, deny=perms.VIEW_CHANNEL)
    await emulator.set_permissions(secret, emulator.bot_member(), allow=perms.VIEW_CHANNEL | perms.SEND_MESSAGES)
    await emulator.join_voice(carol, voice)
    await emulator.join_voice(alice, voice)
    result = await (await emulator.invoke(alice, secret, "join")).wait_done(timeout=10)
    assert "Joined" in result.text and "said so in the call's chat" in result.text
    notice = await emulator.wait_for_message(voice, lambda m: "I'm listening in" in m.content, timeout=10)
    assert carol.mention in notice.content and alice.mention in notice.content and "/voice-optout" in notice.content
    assert set(notice.versions[-1].mentions) == {alice.id, carol.id}, "the people in the call are pinged, nobody else"
    session = cog(bot).sessions[emulator.guild.id]
    await asyncio.wait_for(session.consent.wait_spoken(), 30)

    await emulator.voice.speak(emulator.guild.id, carol.id, speech(piper_voice, QUESTION), sample_rate=KOKORO_RATE,
                               channels=1)
    transcript = await emulator.wait_for_message(voice, lambda m: m.content.startswith("🎙️ **Carol:**"), timeout=20)
    assert "France" in transcript.content
    await emulator.wait_for_message(voice, lambda m: m.content == "🔊 Paris.", timeout=20)
    assert bot_posts(emulator, secret) == [], "nothing but the /join answer goes to the hidden channel"

    # The speech lived only as long as its turn: no utterance is kept once it was transcribed and answered.
    await emulator.wait_until(lambda: not session._tasks, timeout=10, message="the voice turn to end")
    gc.collect()
    assert [o for o in gc.get_objects() if isinstance(o, Utterance)] == []


async def test_a_linked_channel_is_used_only_while_everyone_in_the_call_can_read_it(
        voice_bot, emulator: DiscordEmulator) -> None:
    bot = await voice_bot()
    alice, carol, voice = emulator.member("alice"), emulator.member("carol"), emulator.channel("Voice")
    random_channel, general = emulator.channel("random"), emulator.channel("general")
    mods_only = await emulator.add_channel("mods")
    await emulator.set_permissions(mods_only, emulator.guild.everyone_role, deny=perms.VIEW_CHANNEL)
    await emulator.set_permissions(mods_only, emulator.bot_member(), allow=perms.VIEW_CHANNEL)
    await joined(emulator, bot)
    await emulator.join_voice(carol, voice)
    await emulator.wait_for_message(voice, lambda m: carol.mention in m.content, timeout=10)

    async def say(text: str) -> None:
        result = await (await emulator.invoke(alice, general, "say", text=text)).wait_done(timeout=15)
        assert "Saying it" in result.text or "Text-to-speech" in result.text, result.text

    saved = await (await emulator.invoke(alice, general, "voice", text_channel=mods_only)).wait_done(timeout=5)
    assert "while everyone in the call can read it" in saved.text
    await say("first")
    await emulator.wait_for_message(voice, lambda m: m.content.endswith(": first"), timeout=10)
    assert bot_posts(emulator, mods_only) == [], "carol cannot read #mods"

    await emulator.invoke(alice, general, "voice", text_channel=random_channel)
    await emulator.wait_until(lambda: cog(bot).sessions[emulator.guild.id].settings.text_channel_id == random_channel.id,
                              timeout=5, message="the new setting")
    await say("second")
    await emulator.wait_for_message(random_channel, lambda m: m.content.endswith(": second"), timeout=10)


async def test_a_later_joiner_is_told_before_being_heard(voice_bot, emulator: DiscordEmulator, piper_voice, whisper,
                                                        kokoro, llm) -> None:
    llm.queue(Reply(text="Paris."))
    bot = await voice_bot()
    await joined(emulator, bot)
    bob, voice, guild_id = emulator.member("bob"), emulator.channel("Voice"), emulator.guild.id
    session = cog(bot).sessions[guild_id]
    assert bob.id not in session.vc.audible
    await emulator.join_voice(bob, voice)
    told = await emulator.wait_for_message(voice, lambda m: bob.mention in m.content, timeout=10)
    assert "I'm listening in this call" in told.content and "/voice-optout" in told.content
    assert told.versions[-1].mentions == [bob.id], "the newcomer is pinged, nobody else"
    await emulator.wait_until(lambda: bob.id in session.vc.audible, timeout=5, message="bob heard once told")
    await asyncio.wait_for(session.consent.wait_spoken(), 30)
    assert "Hi Bob, I'm listening in this call." in [r.json["input"] for r in kokoro.requests if r.route == "speech"]

    await emulator.voice.speak(guild_id, bob.id, speech(piper_voice, QUESTION), sample_rate=KOKORO_RATE, channels=1)
    await emulator.wait_for_message(voice, lambda m: m.content.startswith("🎙️ **Bob:**"), timeout=20)
    # Leaving and coming back is not a way to make the bot spam: one notice per member per session.
    await emulator.leave_voice(bob)
    await emulator.wait_until(lambda: bob.id not in session.vc.audible, timeout=5, message="bob no longer heard")
    await emulator.join_voice(bob, voice)
    await emulator.wait_until(lambda: bob.id in session.vc.audible, timeout=5, message="bob heard again")
    assert len([m for m in bot_posts(emulator, voice) if bob.mention in m.content]) == 1


async def test_an_opted_out_members_audio_never_reaches_speech_recognition(
        voice_bot, emulator: DiscordEmulator, piper_voice, whisper, kokoro, llm) -> None:
    llm.queue(Reply(text="Paris."), Reply(text="Still Paris."))
    bot = await voice_bot()
    carol, alice, voice, general = (emulator.member("carol"), emulator.member("alice"), emulator.channel("Voice"),
                                    emulator.channel("general"))
    result = await (await emulator.invoke(carol, general, "voice-optout")).wait_done(timeout=5)
    assert result.ephemeral and "won't hear you" in result.text
    await joined(emulator, bot)
    session = cog(bot).sessions[emulator.guild.id]
    await emulator.join_voice(carol, voice)
    told = await emulator.wait_for_message(voice, lambda m: carol.mention in m.content, timeout=10)
    assert "not to you" in told.content
    speeches = len([r for r in kokoro.requests if r.route == "speech"])
    await emulator.voice.wait_for(lambda: emulator.voice.session(emulator.guild.id) is not None, timeout=5, what="")

    # carol speaks first, then alice: only alice's speech is transcribed.
    await emulator.voice.speak(emulator.guild.id, carol.id, speech(piper_voice, "My secret is forty two."),
                               sample_rate=KOKORO_RATE, channels=1)
    await emulator.voice.speak(emulator.guild.id, alice.id, speech(piper_voice, QUESTION), sample_rate=KOKORO_RATE,
                               channels=1)
    await emulator.wait_for_message(voice, lambda m: m.content.startswith("🎙️ **Alice:**"), timeout=20)
    await emulator.wait_for_message(voice, lambda m: m.content == "🔊 Paris.", timeout=20)
    assert whisper.count("transcribe") == 1
    assert session.vc.skipped["NOT_HEARD"] > 50, session.vc.skipped  # carol's ~2 s of packets, dropped undecoded
    assert len([r for r in kokoro.requests if r.route == "speech"]) == speeches + 1, "no spoken notice for carol"
    assert not [m for m in emulator.messages(voice) if "forty" in m.content.lower()]
    assert "forty" not in str(await bot.services.conversations.recent(voice.id, 3000, kind="voice"))

    # Opting back in (even mid-call) lets her be heard.
    await emulator.invoke(carol, general, "voice-optin")
    await emulator.wait_until(lambda: carol.id in session.vc.audible, timeout=5, message="carol heard again")
    await emulator.voice.speak(emulator.guild.id, carol.id, speech(piper_voice, QUESTION), sample_rate=KOKORO_RATE,
                               channels=1)
    transcript = await emulator.wait_for_message(voice, lambda m: m.content.startswith("🎙️ **Carol:**"), timeout=20)
    assert whisper.count("transcribe") == 2
    await emulator.wait_for_message(voice, lambda m: m.content == "🔊 Still Paris.", timeout=20)

    # /forget-me: her voice turns (and the answers to them) are erased, and the transcript in the call's chat
    # (the bot's message quoting her) is deleted; alice's stay.
    forgotten = await (await emulator.invoke(carol, general, "forget-me")).wait_done(timeout=10)
    assert "I forgot 2 conversation turns" in forgotten.text and "deleting the 1 transcript" in forgotten.text
    await emulator.wait_until(lambda: transcript.deleted, timeout=5, message="carol's transcript deleted")
    kept = await bot.services.conversations.recent(voice.id, 3000, kind="voice")
    assert [t.author_name for t in kept if t.role == "user"] == ["Alice"]


async def test_only_people_in_the_call_or_with_move_members_control_the_bot(
        voice_bot, emulator: DiscordEmulator, caplog) -> None:
    caplog.set_level(logging.INFO, logger="cogs.voice.cog")
    bot = await voice_bot()
    await joined(emulator, bot)
    alice, dave, general, voice = (emulator.member("alice"), emulator.member("dave"), emulator.channel("general"),
                                   emulator.channel("Voice"))
    guild_id = emulator.guild.id
    for command, options in (("leave", {}), ("say", {"text": "I am the bot and I say so"})):
        refused = await (await emulator.invoke(dave, general, command, **options)).wait_done(timeout=5)
        assert refused.ephemeral and "Only someone in **Voice**" in refused.text, refused.text
    assert guild_id in cog(bot).sessions and not [m for m in bot_posts(emulator, voice) if "I am the bot" in m.content]

    other = await emulator.add_channel("Voice 2", ChannelType.VOICE)
    await emulator.join_voice(dave, other)
    refused = await (await emulator.invoke(dave, general, "join")).wait_done(timeout=5)
    assert refused.ephemeral and "only someone there (or with Move Members) can move me" in refused.text
    assert cog(bot).sessions[guild_id].vc.channel.id == voice.id

    # /say is attributed in the call's chat (named, not pinged, markdown shown as typed) and logged with the id.
    said = await (await emulator.invoke(alice, general, "say", text="hi **there** [x](https://e.x)")).wait_done(timeout=15)
    assert "Saying it" in said.text
    attribution = await emulator.wait_for_message(voice, lambda m: m.content.startswith("🔊 asked by"), timeout=5)
    assert attribution.content == f"🔊 asked by {alice.mention}: hi \\*\\*there\\*\\* \\[x\\](https://e.x)"
    assert attribution.versions[-1].mentions == []
    assert any(f"({alice.id})" in r.getMessage() and "/say" in r.getMessage() for r in caplog.records)

    # With Move Members, someone outside the call may move the bot (and the new call is told).
    mover = await emulator.add_role("Mover", MOVE_MEMBERS)
    await emulator.give_role(dave, mover)
    moved = await (await emulator.invoke(dave, general, "join")).wait_done(timeout=15)
    assert "Joined **Voice 2**" in moved.text
    await emulator.wait_for_message(other, lambda m: dave.mention in m.content and "I'm listening" in m.content,
                                    timeout=10)
    left = await (await emulator.invoke(dave, general, "leave")).wait_done(timeout=10)
    assert "Left" in left.text


async def test_the_join_lock_is_per_server(voice_bot, emulator: DiscordEmulator) -> None:
    """A join stuck in one server (a slow voice region) does not hold up /join in another."""
    bot = await voice_bot()
    second = await emulator.add_guild("Second")
    alice = emulator.member("alice", guild=second)
    await emulator.join_voice(alice, emulator.channel("Voice", guild=second))
    async with cog(bot)._join_locks[emulator.guild.id]:
        result = await (await emulator.invoke(alice, emulator.channel("general", guild=second), "join")).wait_done(
            timeout=15)
        assert "Joined" in result.text
