"""A voice turn is a chat turn: tools, persona and model of the call's chat, thinking never spoken or kept,
what a tool did posted in the call's chat, and each turn's stage times handed to the metrics."""

from __future__ import annotations

import asyncio

import pytest

from config.settings import ModelRef
from devtools.fakes.llm_server import FakeToolCall, Reply
from services.metrics import VOICE_STAGES, Metrics
from services.speech import Transcript
from services.voice import Speaker
from services.voice.addressing import Addressing
from tests.services.voice.conftest import ALICE, GS, MUTED, SCOPE, utterance

WORDS = "Remind me in ten minutes to stretch."


def said(text: str) -> asyncio.Future[Transcript]:
    future: asyncio.Future[Transcript] = asyncio.get_running_loop().create_future()
    future.set_result(Transcript(text))
    return future


def spoken(kokoro) -> list[str]:  # type: ignore[no-untyped-def]
    return [r.json["input"] for r in kokoro.requests if r.route == "speech"]


async def test_a_spoken_request_sets_the_speakers_reminder_and_the_chat_confirms_it(make, servers, reminders):
    llm, kokoro, _ = servers
    llm.queue(Reply(reasoning="The member wants a reminder.", text="Okay.", tool_calls=[FakeToolCall(
                  "set_reminder", {"when": "in 10 minutes", "what": "stretch", "request_quote": WORDS})]),
              Reply(reasoning="Now confirm it.", text="I'll remind you to stretch in ten minutes."))
    conversation, player = make()
    result = await conversation.hear(utterance(), ALICE, SCOPE, GS, transcript=said(WORDS))
    assert result.status == "complete"
    [reminder] = (await reminders.list_pending(ALICE.user_id)).items
    assert (reminder.text, reminder.channel_id, reminder.guild_id) == ("stretch", SCOPE, 7)
    assert "set_reminder" in [t["function"]["name"] for t in llm.chat_requests[0].json["tools"]]
    # What was said before the tool ran is spoken first; the thinking never is.
    assert spoken(kokoro) == ["Okay.", "I'll remind you to stretch in ten minutes."]
    assert player.posts[0] == f"🎙️ **alice:** {WORDS}"
    assert player.posts[1] == (f"🔊 Okay.\n\nI'll remind you to stretch in ten minutes.\n"
                               f"⏰ Set #{reminder.id} for <t:{int(reminder.due_at)}:F>: stretch")
    turns = await conversation.turns.store.recent(SCOPE, 1000, kind="voice")
    assert [t.role for t in turns] == ["user", "assistant"]
    assert "remind you" in turns[1].content and "member wants" not in turns[1].content


async def test_a_member_who_may_not_post_in_the_calls_chat_gets_the_reminder_by_dm(make, servers, reminders):
    llm, _, _ = servers
    llm.queue(Reply(text="", tool_calls=[FakeToolCall(
        "set_reminder", {"when": "in 10 minutes", "what": "stretch", "request_quote": WORDS})]), Reply(text="Done."))
    conversation, player = make()
    await conversation.hear(utterance(), MUTED, SCOPE, GS, transcript=said(WORDS))
    [reminder] = (await reminders.list_pending(MUTED.user_id)).items
    assert reminder.channel_id is None and "(by DM)" in player.posts[-1]


async def test_a_reminder_the_member_did_not_ask_for_is_refused(make, servers, reminders):
    llm, _, _ = servers
    llm.queue(Reply(text="", tool_calls=[FakeToolCall(
        "set_reminder", {"when": "every 5 minutes", "what": "buy", "request_quote": "remind me every 5 minutes"})]),
        Reply(text="I can't do that."))
    conversation, player = make()
    await conversation.hear(utterance(), ALICE, SCOPE, GS, transcript=said("What is the weather like?"))
    assert (await reminders.list_pending(ALICE.user_id)).items == []
    assert "⏰" not in "".join(player.posts)


async def test_with_tools_off_a_tool_call_is_a_plain_answer(make, servers, reminders):
    llm, kokoro, _ = servers
    llm.queue(Reply(text="Sure, stretching is good.", tool_calls=[FakeToolCall(
        "set_reminder", {"when": "in 10 minutes", "what": "stretch", "request_quote": WORDS})]))
    conversation, player = make(LLM_TOOLS="off")
    result = await conversation.hear(utterance(), ALICE, SCOPE, GS, transcript=said(WORDS))
    assert result.status == "complete" and result.answer == "Sure, stretching is good."
    assert "tools" not in llm.chat_requests[0].json and len(llm.chat_requests) == 1
    assert spoken(kokoro) == ["Sure, stretching is good."]
    assert (await reminders.list_pending(ALICE.user_id)).items == []
    assert player.posts[-1] == "🔊 Sure, stretching is good."


async def test_the_calls_channel_persona_and_model_apply(make, servers):
    llm, _, _ = servers
    llm.default = Reply(text="Arr, Paris.")
    conversation, _ = make()
    profiles = conversation.turns.profiles
    await profiles.set_persona("channel", SCOPE + 1, 7, "You are a pirate.", by=1)  # the voice channel
    await profiles.set_chain("guild", 7, 7, "ollama:llama3.2:1b", by=1)  # the server
    await conversation.hear(utterance(), ALICE, SCOPE, GS, transcript=said("Capital of France?"))
    sent = llm.chat_requests[0].json
    assert sent["model"] == "llama3.2:1b"
    assert sent["messages"][0]["content"].startswith("You are a pirate. You are talking in a voice call")
    assert profiles.default_chain[0] == ModelRef("ollama", "llama3.2:latest")


async def test_sources_are_posted_and_citations_not_spoken(make, servers):
    llm, kokoro, _ = servers
    llm.queue(Reply(text="", tool_calls=[FakeToolCall("current_time", {})]), Reply(text="It is nine o'clock [1]."))
    conversation, player = make()
    result = await conversation.hear(utterance(), ALICE, SCOPE, GS, transcript=said("What time is it?"))
    assert result.status == "complete" and result.answer == "It is nine o'clock [1]."
    assert spoken(kokoro) == ["It is nine o'clock."]
    assert " in UTC " in next(m for m in llm.chat_requests[1].json["messages"] if m["role"] == "tool")["content"]
    assert player.posts[-1] == "🔊 It is nine o'clock [1]."


async def test_each_transcribed_turn_reports_its_stage_times(make, servers, observed):
    llm, _, _ = servers
    llm.default = Reply(text="Paris is the capital.")
    conversation, _ = make()
    await conversation.hear(utterance(), ALICE, SCOPE, GS)
    await conversation.hear(utterance(), Speaker(5, "eve"), SCOPE, GS,
                            transcript=said("Nice weather."), addressing=Addressing("name", ("Emu",)))
    assert len(observed) == 2
    answered, unaddressed = observed
    assert tuple(answered) == VOICE_STAGES and all(answered[s] is not None for s in VOICE_STAGES)
    assert answered["endpointing"] == pytest.approx(0.6) and answered["first_audio"] >= answered["tts"]  # type: ignore[operator]
    assert unaddressed["stt"] is not None and unaddressed["first_sentence"] is None
    metrics = Metrics()
    for stages in observed:
        metrics.voice_turn(stages)
    text = metrics.exposition().decode()
    assert 'discordbot_voice_stage_seconds_count{stage="first_audio"} 1.0' in text
    assert 'discordbot_voice_stage_seconds_count{stage="stt"} 2.0' in text
