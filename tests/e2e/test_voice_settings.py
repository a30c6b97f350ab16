"""/voice: per-guild settings shown, changed, validated and kept across a restart; /leave and /say
without a voice session answer honestly."""

from __future__ import annotations

from typing import Any

from devtools.discord_emulator import DiscordEmulator


async def test_voice_settings_persist_across_a_restart(bot_factory: Any, emulator: DiscordEmulator,
                                                       make_settings: Any) -> None:
    settings = make_settings()
    bot = await bot_factory(extensions=["cogs.voice"], settings=settings)
    alice, general = emulator.member("alice"), emulator.channel("general")
    shown = await (await emulator.invoke(alice, general, "voice")).wait_done(timeout=5)
    assert shown.ephemeral and "voice: `af_heart`" in shown.text and "listening: on" in shown.text
    inter = await emulator.invoke(alice, general, "voice", voice="af_bella+af_sky", speed=1.5, listen=False,
                                  text_channel=emulator.channel("random"))
    saved = await inter.wait_done(timeout=5)
    assert "saved" in saved.text and "`af_bella+af_sky`" in saved.text and "speed: 1.5" in saved.text
    assert f"<#{emulator.channel('random').id}>" in saved.text
    refused = await (await emulator.invoke(alice, general, "voice", rvc=True)).wait_done(timeout=5)
    assert "RVC is not configured" in refused.text
    await bot.close()

    await bot_factory(extensions=["cogs.voice"], settings=settings)
    shown = await (await emulator.invoke(alice, general, "voice")).wait_done(timeout=5)
    assert "`af_bella+af_sky`" in shown.text and "listening: off" in shown.text and "speed: 1.5" in shown.text
    # Nothing rejoined after the restart; commands that need a session say so.
    assert emulator.voice is None or emulator.voice.session(emulator.guild.id) is None
    left = await (await emulator.invoke(alice, general, "leave")).wait_done(timeout=5)
    assert "not in a voice channel" in left.text
    said = await (await emulator.invoke(alice, general, "say", text="hi")).wait_done(timeout=5)
    assert "/join first" in said.text


async def test_voice_settings_need_manage_server(bot_factory: Any, emulator: DiscordEmulator) -> None:
    await bot_factory(extensions=["cogs.voice"])
    command = next(c for c in emulator.records.command_syncs[-1].commands if c["name"] == "voice")
    assert int(command["default_member_permissions"]) == 1 << 5  # MANAGE_GUILD


async def test_silence_is_sent_now_and_then_while_listening(bot_factory: Any, emulator: DiscordEmulator,
                                                            monkeypatch: Any) -> None:
    import cogs.voice.session as voice_session

    monkeypatch.setattr(voice_session, "KEEPALIVE_INTERVAL", 0.2)
    await bot_factory(extensions=["cogs.voice"])
    alice = emulator.member("alice")
    await emulator.join_voice(alice, emulator.channel("Voice"))
    joined = await (await emulator.invoke(alice, emulator.channel("general"), "join")).wait_done(timeout=10)
    assert "Joined" in joined.text and "not listening" in joined.text  # no STT configured here
    guild_id = emulator.guild.id
    await emulator.voice.wait_for(lambda: len(emulator.voice.packets_from_bot(guild_id)) >= 2, timeout=5,
                                  what="keep-alive packets from the bot")
    assert all(not any(p.pcm) for p in emulator.voice.packets_from_bot(guild_id))  # opus silence, nothing else


async def test_addressing_needs_a_sane_wake_word_and_persists(bot_factory: Any, emulator: DiscordEmulator,
                                                              make_settings: Any) -> None:
    settings = make_settings()
    bot = await bot_factory(extensions=["cogs.voice"], settings=settings)
    alice, general = emulator.member("alice"), emulator.channel("general")

    async def voice(**options: Any) -> str:
        return (await (await emulator.invoke(alice, general, "voice", **options)).wait_done(timeout=5)).text

    assert "Set a wake word first" in await voice(address="wake")
    assert "one to three words of letters" in await voice(wake_word="@everyone")
    assert "one to three words of letters" in await voice(wake_word="hey there my good bot")
    saved = await voice(address="wake", wake_word="hey computer", memory="separate")
    assert "answers: wake" in saved and "wake word: `hey computer`" in saved and "separate from text chat" in saved
    assert "Set a wake word first" in await voice(wake_word="-")  # wake mode would be left without one
    assert "wake word: none" in await voice(address="name", wake_word="-")
    await bot.close()
    await bot_factory(extensions=["cogs.voice"], settings=settings)
    shown = await voice()
    assert "answers: name" in shown and "wake word: none" in shown and "separate from text chat" in shown
