"""/voice memory: shared, the call continues the text chat it writes in (its own, by default: one
conversation for /chat there and the call, through the same context builder); separate, neither sees
the other."""

from __future__ import annotations

from typing import Any

import pytest

from devtools.discord_emulator import DiscordEmulator
from devtools.fakes.engines import KOKORO_RATE, PiperKokoroServer, WhisperEngineServer
from devtools.fakes.llm_server import FakeLLMServer, Reply
from tests.e2e.conftest import WHISPER_MODEL
from tests.e2e.test_voice import QUESTION, joined, speech

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("memory", ["shared", "separate"])
async def test_the_call_and_the_voice_channels_text_chat_share_memory_only_when_chosen(
        bot_factory: Any, emulator: DiscordEmulator, piper_voice: Any, kokoro: PiperKokoroServer,
        whisper: WhisperEngineServer, llm: FakeLLMServer, memory: str) -> None:
    llm.queue(Reply(text="Paris is the capital of France."), Reply(text="About two million people."))
    bot = await bot_factory(extensions=["cogs.chat", "cogs.voice"], kokoro_api_url=kokoro.url,
                            whisper_api_url=whisper.url, whisper_model=WHISPER_MODEL, ollama_host=llm.url,
                            ollama_model="llama3.2:latest", voice_silence_ms=400)
    alice, general, call = emulator.member("alice"), emulator.channel("general"), emulator.channel("Voice")
    chosen = await (await emulator.invoke(alice, general, "voice", memory=memory)).wait_done(timeout=5)
    assert ("shared with the text chat the call writes in" if memory == "shared" else "separate from text chat") \
        in chosen.text
    await joined(emulator, bot)
    notice = await emulator.wait_for_message(call, lambda m: "I'm listening in" in m.content, timeout=5)
    assert ("this chat's conversation memory" in notice.content) == (memory == "shared")
    assert ("my memory of this call" in notice.content) == (memory == "separate")
    await emulator.voice.speak(emulator.guild.id, alice.id, speech(piper_voice, QUESTION), sample_rate=KOKORO_RATE,
                               channels=1)
    await emulator.wait_for_message(call, lambda m: m.content.startswith("🔊"), timeout=15)  # answered, stored
    typed = await emulator.invoke(alice, call, "chat", prompt="And how many people live there?")
    await typed.wait_done(timeout=10)
    # The typed prompt's request (under load a spoken question may arrive as two turns, so not "the second").
    [contents] = [c for c in ([m["content"] for m in r.json["messages"]] for r in llm.chat_requests)
                  if c[-1].lower() == "alice: and how many people live there?"]
    remembered = any("capital of france" in c.lower() for c in contents[:-1])
    assert remembered == (memory == "shared"), contents
