"""Tools by voice on the real bot: a member asks aloud (Piper speech, real faster-whisper), the model (Ollama's
wire format) calls set_reminder, the reminder is the member's own and the call's chat confirms it; with
LLM_TOOLS=off the same call is only a plain answer. The turn's stage times reach /metrics."""

from __future__ import annotations

from typing import Any

import pytest

from devtools.discord_emulator import DiscordEmulator
from devtools.fakes.engines import KOKORO_RATE, PiperKokoroServer, WhisperEngineServer
from devtools.fakes.llm_server import FakeLLMServer, FakeToolCall, Reply
from services.metrics import VOICE_STAGES
from tests.e2e.conftest import WHISPER_MODEL
from tests.e2e.test_metrics import scrape
from tests.e2e.test_voice import joined, speech
from tests.services.test_metrics import free_port

pytestmark = pytest.mark.slow
ASKED = "Remind me in ten minutes to stretch."


def words_of(body: dict[str, Any]) -> str:
    """What the member said this turn, as the model got it ("Alice: ...")."""
    last = [m for m in body["messages"] if m["role"] == "user"][-1]["content"]
    return last.partition(": ")[2]


def reminding_model(body: dict[str, Any]) -> Reply:
    """Asks for the reminder, quoting the member's own words; answers once the tool has run."""
    if any(m["role"] == "tool" for m in body["messages"]):
        return Reply(text="Okay, I will remind you to stretch.")
    return Reply(text="", tool_calls=[FakeToolCall("set_reminder", {
        "when": "in 10 minutes", "what": "stretch", "request_quote": words_of(body)})])


async def start(bot_factory: Any, kokoro: PiperKokoroServer, whisper: WhisperEngineServer, llm: FakeLLMServer,
                **overrides: Any) -> Any:
    return await bot_factory(extensions=["cogs.voice", "cogs.metrics"], kokoro_api_url=kokoro.url,
                             whisper_api_url=whisper.url, whisper_model=WHISPER_MODEL, ollama_host=llm.url,
                             ollama_model="llama3.2:latest", voice_silence_ms=400, **overrides)


async def test_a_spoken_request_sets_a_reminder_confirmed_in_the_calls_chat(
        bot_factory: Any, emulator: DiscordEmulator, piper_voice: Any, kokoro: PiperKokoroServer,
        whisper: WhisperEngineServer, llm: FakeLLMServer) -> None:
    port = free_port()
    llm.responder = reminding_model
    bot = await start(bot_factory, kokoro, whisper, llm, metrics_port=port)
    alice, call = emulator.member("alice"), emulator.channel("Voice")
    await joined(emulator, bot)
    await emulator.voice.speak(emulator.guild.id, alice.id, speech(piper_voice, ASKED), sample_rate=KOKORO_RATE,
                               channels=1)
    confirmed = await emulator.wait_for_message(call, lambda m: "⏰ Set #" in m.content, timeout=30)
    [reminder] = (await bot.services.reminders.list_pending(alice.id)).items
    assert (reminder.text, reminder.channel_id, reminder.guild_id) == ("stretch", call.id, emulator.guild.id)
    assert confirmed.content.startswith("🔊 Okay, I will remind you to stretch.")
    assert f"⏰ Set #{reminder.id} for <t:{int(reminder.due_at)}:F>: stretch" in confirmed.content
    assert "set_reminder" in [t["function"]["name"] for t in llm.chat_requests[0].json["tools"]]
    spoken = [r.json["input"] for r in kokoro.requests if r.route == "speech"]
    assert spoken[-1] == "Okay, I will remind you to stretch."
    # The turn's stages were measured once and are on /metrics.
    got = await scrape(port)
    for stage in VOICE_STAGES:
        assert got[("discordbot_voice_stage_seconds_count", (("stage", stage),))] == 1, stage
    assert 0 < got[("discordbot_voice_stage_seconds_sum", (("stage", "first_audio"),))] < 15


async def test_with_tools_off_a_spoken_request_gets_a_plain_answer(
        bot_factory: Any, emulator: DiscordEmulator, piper_voice: Any, kokoro: PiperKokoroServer,
        whisper: WhisperEngineServer, llm: FakeLLMServer) -> None:
    llm.queue(Reply(text="Stretching is a good idea.", tool_calls=[FakeToolCall(
        "set_reminder", {"when": "in 10 minutes", "what": "stretch", "request_quote": "in ten minutes"})]))
    bot = await start(bot_factory, kokoro, whisper, llm, llm_tools="off")
    alice, call = emulator.member("alice"), emulator.channel("Voice")
    await joined(emulator, bot)
    await emulator.voice.speak(emulator.guild.id, alice.id, speech(piper_voice, ASKED), sample_rate=KOKORO_RATE,
                               channels=1)
    answered = await emulator.wait_for_message(call, lambda m: m.content.startswith("🔊"), timeout=30)
    assert answered.content == "🔊 Stretching is a good idea."
    assert len(llm.chat_requests) == 1 and "tools" not in llm.chat_requests[0].json
    assert (await bot.services.reminders.list_pending(alice.id)).items == []
    assert [r.json["input"] for r in kokoro.requests if r.route == "speech"][-1] == "Stretching is a good idea."
