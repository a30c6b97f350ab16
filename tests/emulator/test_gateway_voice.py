"""Voice through the gateway: the real discord.py VoiceClient joins with op 4, gets its session from
VOICE_STATE_UPDATE/VOICE_SERVER_UPDATE, connects to the emulator's TLS voice server, and is heard."""

from __future__ import annotations

import io

import aiohttp
import discord
import pytest

from devtools.discord_emulator import DiscordEmulator
from devtools.discord_emulator.audio import dominant_frequency, duration, sine_tone
from devtools.discord_emulator.certs import TestCertificates
from devtools.discord_emulator.rtc import voice_module
from tests.emulator.conftest import ClientFactory

pytestmark = pytest.mark.skipif(voice_module() is None, reason="devtools/discord_emulator/voice.py is not there yet")


async def test_the_bot_joins_voice_plays_and_hears_a_member(emulator: DiscordEmulator, client_factory: ClientFactory,
                                                            discord_certificates: TestCertificates) -> None:
    client = await client_factory(connector=aiohttp.TCPConnector(ssl=discord_certificates.client_context()))
    guild = client.get_guild(emulator.guild.id)
    voice_channel = guild.get_channel(emulator.channel("Voice").id)
    vc = await voice_channel.connect(timeout=10, reconnect=False)
    try:
        assert vc.is_connected() and guild.me.voice.channel == voice_channel
        server = emulator.voice
        assert server is not None
        vc.play(discord.PCMAudio(io.BytesIO(sine_tone(0.5, 440.0))))
        heard = await server.wait_for_audio(guild.id, seconds=0.4, timeout=10)
        assert duration(heard) >= 0.4 and abs(dominant_frequency(heard) - 440) < 20
        dave = emulator.member("dave")
        await emulator.join_voice(dave, emulator.channel("Voice"))
        await emulator.wait_until(lambda: guild.get_member(dave.id) is not None, message="dave to be known")
    finally:
        await vc.disconnect(force=True)
    await emulator.wait_until(lambda: emulator.bot_member().voice is None, message="the bot to leave voice")
