"""The turn pipeline with the real LLM router and speech clients against local servers speaking
Ollama's, Kokoro's and Whisper's wire formats; a test player drains the queue at 10x real time
(fixtures in conftest.py)."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

import pytest

from devtools.fakes.llm_server import Reply
from devtools.fakes.rvc_servers import FakeRvcPython
from devtools.fakes.speech_servers import FakeKokoro, Fault
from devtools.testenv import CLOSED_PORT_URL
from services.chat.memory import Turn
from services.limits import MemberBuckets, MemberLimits, TokenQuotas
from services.speech import Transcript
from services.storage import Database
from services.storage.sqlite.quotas import SqliteQuotaStore
from services.voice import BargedIn, Speaker, TurnResult
from services.voice.addressing import Addressing
from services.voice.conversation import LLM_APOLOGY, STT_UNAVAILABLE
from tests.services.voice.conftest import ALICE, BOB, GS, SCOPE, utterance


async def test_the_first_sentence_plays_while_the_model_still_writes(make, servers) -> None:
    llm, kokoro, _ = servers
    first, second = "Paris is the capital of France.", "It has many museums and cafes."
    llm.queue(Reply(text=f"{first} {second}", token_delay=0.05))
    conversation, player = make()
    result = await conversation.hear(utterance(), ALICE, SCOPE, GS)
    assert result.status == "complete" and result.answer == f"{first} {second}"
    assert player.in_flight_at_first_play == [1]
    assert [r.json["input"] for r in kokoro.requests if r.route == "speech"] == [first, second]
    assert all(r.json["stream"] and r.json["response_format"] == "pcm" for r in kokoro.requests)
    t = result.timings
    assert t.transcribed is not None and t.first_sentence is not None and t.first_pcm is not None
    assert t.transcribed <= t.first_sentence <= t.first_pcm <= (t.first_audio or 0)
    assert player.posts == ["🎙️ **alice:** What is the capital of France?", f"🔊 {first} {second}"]
    sent = llm.chat_requests[0].json["messages"]
    assert sent[0]["role"] == "system" and sent[0]["content"].startswith("Be brief. You are talking in a voice call")
    assert sent[-1]["content"] == "alice: What is the capital of France?"
    turns = await conversation.turns.store.recent(SCOPE, 1000, kind="voice")
    assert [(t.role, t.content) for t in turns] == [("user", "What is the capital of France?"),
                                                    ("assistant", f"{first} {second}")]
    # Voice has its own memory, apart from the text chat of the same channel id.
    assert await conversation.turns.store.recent(SCOPE, 1000) == []
    # The next turn carries the history.
    llm.queue(Reply(text="Yes, really."))
    await conversation.answer("Really?", ALICE, SCOPE, GS)
    roles = [m["role"] for m in llm.chat_requests[1].json["messages"]]
    assert roles == ["system", "user", "assistant", "user"]
    # The exchange is linked to the transcript (the member's words kept by the bot) and the posted answer:
    # deleting the posted answer erases the first exchange; /forget-me erases the rest and names the transcript.
    store = conversation.turns.store
    assert await store.forget_messages([2]) == 2
    assert [t.content for t in await store.recent(SCOPE, 1000, kind="voice")] == ["Really?", "Yes, really."]
    await store.link(1, [])  # nothing to link: no error
    forgotten = await store.forget_author(ALICE.user_id)
    assert forgotten.turns == 2 and forgotten.transcripts == []  # the transcript went with the first exchange
    assert await store.recent(SCOPE, 1000, kind="voice") == []


async def test_tts_down_posts_the_whole_answer_as_text(make, servers) -> None:
    llm, _, _ = servers
    llm.queue(Reply(text="Paris. It is in France, on the Seine."))
    conversation, player = make(tts_url=CLOSED_PORT_URL)
    result = await conversation.answer("Where is Paris?", ALICE, SCOPE, GS)
    assert result.degraded == "tts" and result.status == "complete"
    assert player.posts == ["Paris. It is in France, on the Seine."]
    assert conversation.queue.frames_played == 0


async def test_llm_down_gives_a_spoken_apology_or_a_written_one(make, servers) -> None:
    llm, kokoro, _ = servers
    llm.default = Reply(status=500, error="model crashed")
    conversation, player = make()
    result = await conversation.answer("Hello?", ALICE, SCOPE, GS)
    assert result.status == "failed" and result.degraded == "llm"
    assert [r.json["input"] for r in kokoro.requests if r.route == "speech"] == [LLM_APOLOGY]
    assert player.posts == []
    conversation, player = make(tts_url=CLOSED_PORT_URL)
    await conversation.answer("Hello?", ALICE, SCOPE, GS)
    assert player.posts == [LLM_APOLOGY]


async def test_stt_down_says_so_once(make, servers) -> None:
    llm, _, _ = servers
    conversation, player = make(stt_url=CLOSED_PORT_URL)
    for _ in range(3):
        result = await conversation.hear(utterance(), ALICE, SCOPE, GS)
        assert result.degraded == "stt"
    assert player.posts == [STT_UNAVAILABLE]
    assert not llm.chat_requests


async def test_barge_in_stops_the_turn_and_remembers_it_as_interrupted(make, servers) -> None:
    llm, _, _ = servers
    llm.queue(Reply(text="One two three four five six. " * 8, token_delay=0.02))
    conversation, player = make()
    turn = asyncio.create_task(conversation.answer("Count.", ALICE, SCOPE, GS))
    await asyncio.wait_for(conversation.queue.wait_audio(), 5)
    assert conversation.talking and conversation.barge_in()
    result = await asyncio.wait_for(turn, 5)
    assert result.status == "interrupted" and result.spoken
    assert conversation.queue.pending_bytes == 0
    await asyncio.wait_for(conversation.queue.wait_idle(), 2)
    turns = await conversation.turns.store.recent(SCOPE, 1000, kind="voice")
    assert turns[-1].status == "interrupted" and turns[-1].content.startswith("One two three")
    assert player.posts[-1].startswith("🔊 One two three") and player.posts[-1].endswith("*(interrupted)*")
    assert not conversation.talking


async def test_rvc_reworks_each_sentence_and_its_failure_keeps_the_plain_voice(make, servers) -> None:
    llm, kokoro, _ = servers
    llm.queue(Reply(text="First sentence is here. Second sentence is here."))
    async with FakeRvcPython() as rvc:
        conversation, _ = make(rvc_url=rvc.url)
        rvc.script("convert", Fault(status=500, json_body={"detail": "model crashed"}),
                   Fault(status=500, json_body={"detail": "model crashed"}))
        result = await conversation.answer("Talk.", ALICE, SCOPE, replace(GS, rvc=True))
        assert result.status == "complete" and len(result.spoken) == 2
        speech = [r for r in kokoro.requests if r.route == "speech"]
        assert [r.json["response_format"] for r in speech] == ["wav", "wav"]  # whole clips for RVC
        assert rvc.count("convert") == 3  # the first sentence's conversion failed (with a retry), the second worked
        assert conversation.queue.frames_played > 50


async def test_say_queues_behind_what_is_already_playing(make, servers) -> None:
    _, kokoro, _ = servers
    conversation, _ = make()
    texts = ("First thing to say.", "And a second, longer thing to say after it.")
    kokoro.script("speech", Fault(hold_after=4800))
    says = asyncio.gather(*(conversation.say(t, GS) for t in texts))
    await asyncio.wait_for(conversation.queue.wait_audio(), 5)  # the first is playing, its synthesis held
    assert kokoro.count("speech") == 1, "the second text was synthesized into the middle of the first"
    kokoro.release.set()
    await asyncio.wait_for(says, 5)
    await asyncio.wait_for(conversation.queue.wait_idle(), 5)
    assert [r.json["input"] for r in kokoro.requests if r.route == "speech"] == list(texts)
    expected = sum(FakeKokoro.expected_seconds(t) for t in texts)
    assert abs(conversation.queue.frames_played * 0.02 - expected) < 0.1


async def test_a_say_spoken_over_raises_barged_in_and_the_next_one_plays(make, servers) -> None:
    _, kokoro, _ = servers
    conversation, _ = make()
    kokoro.script("speech", Fault(hold_after=4800))
    say = asyncio.create_task(conversation.say("A long announcement that someone interrupts.", GS))
    await asyncio.wait_for(conversation.queue.wait_audio(), 5)
    assert conversation.barge_in()
    kokoro.release.set()  # the rest of the synthesis arrives after the queue was cleared
    with pytest.raises(BargedIn):
        await asyncio.wait_for(say, 5)
    await conversation.say("Short.", GS)
    await asyncio.wait_for(conversation.queue.wait_idle(), 5)
    assert not conversation.talking


async def test_history_is_built_like_chat_a_leading_answer_is_dropped(make, servers) -> None:
    llm, _, _ = servers
    conversation, _ = make()
    store = conversation.turns.store
    await store.add(SCOPE, Turn("assistant", "An answer whose question was pruned."), kind="voice")
    await store.add(SCOPE, Turn("user", "Earlier question", "bob", 2), kind="voice")
    await store.add(SCOPE, Turn("assistant", "Earlier answer."), kind="voice")
    llm.queue(Reply(text="Fine."))
    await conversation.answer("And now?", ALICE, SCOPE, GS)
    sent = llm.chat_requests[0].json["messages"]
    assert [m["role"] for m in sent] == ["system", "user", "assistant", "user"]
    assert sent[1]["content"] == "bob: Earlier question"


async def test_a_speculative_transcript_is_used_instead_of_a_new_request(make, servers) -> None:
    llm, _, whisper = servers
    llm.queue(Reply(text="Paris."))
    conversation, player = make()
    done: asyncio.Future[Transcript] = asyncio.get_running_loop().create_future()
    done.set_result(Transcript("What is the capital of Spain?"))
    result = await conversation.hear(utterance(), ALICE, SCOPE, GS, transcript=done)
    assert result.status == "complete" and result.transcript == "What is the capital of Spain?"
    assert whisper.count("transcribe") == 0
    assert player.posts[0] == "🎙️ **alice:** What is the capital of Spain?"


async def test_in_name_mode_talk_between_members_is_ignored_and_a_named_turn_answered(make, servers) -> None:
    llm, _, _ = servers
    llm.default = Reply(text="Paris.")
    conversation, player = make()
    addressing = Addressing("name", ("EmuBot",), "Jarvis")

    async def heard(text: str) -> TurnResult:
        future: asyncio.Future[Transcript] = asyncio.get_running_loop().create_future()
        future.set_result(Transcript(text))
        return await conversation.hear(utterance(), ALICE, SCOPE, GS, transcript=future, addressing=addressing)

    ignored = await heard("Did you watch the game last night?")
    assert ignored.status == "unaddressed" and not llm.chat_requests and player.posts == []
    for kind in ("voice", "chat"):  # nothing of it is kept, in either memory
        assert await conversation.turns.store.recent(SCOPE, 1000, kind=kind) == []
    answered = await heard("Jarvis, what is the capital of France?")
    assert answered.status == "complete" and len(llm.chat_requests) == 1
    assert llm.chat_requests[0].json["messages"][-1]["content"] == "alice: Jarvis, what is the capital of France?"


async def test_in_name_mode_only_an_addressed_turn_barges_in(make, servers) -> None:
    llm, _, _ = servers
    llm.queue(Reply(text="One two three four five six. " * 8, token_delay=0.02), Reply(text="Okay."))
    conversation, _ = make()
    addressing = Addressing("name", ("EmuBot",), "")
    answer = asyncio.create_task(conversation.answer("Count.", BOB, SCOPE, GS))
    await asyncio.wait_for(conversation.queue.wait_audio(), 5)

    def said(text: str) -> asyncio.Future[Transcript]:
        future: asyncio.Future[Transcript] = asyncio.get_running_loop().create_future()
        future.set_result(Transcript(text))
        return future

    chatter = await conversation.hear(utterance(), ALICE, SCOPE, GS, transcript=said("He counts well."),
                                      addressing=addressing, barge_in=True)
    assert chatter.status == "unaddressed" and conversation.talking and not answer.done()
    stop = await conversation.hear(utterance(), ALICE, SCOPE, GS, transcript=said("EmuBot, stop."),
                                   addressing=addressing, barge_in=True)
    assert (await answer).status == "interrupted" and stop.status == "complete"


async def test_two_members_at_once_get_two_answers_each_with_their_own_words(make, servers) -> None:
    llm, kokoro, _ = servers
    llm.queue(Reply(text="Answer for alice.", token_delay=0.02), Reply(text="Answer for bob."))
    conversation, _ = make()

    def said(text: str) -> asyncio.Future[Transcript]:
        future: asyncio.Future[Transcript] = asyncio.get_running_loop().create_future()
        future.set_result(Transcript(text))
        return future

    results = await asyncio.gather(
        conversation.hear(utterance(), ALICE, SCOPE, GS, transcript=said("What time is it?")),
        conversation.hear(utterance(), BOB, SCOPE, GS, transcript=said("What day is it?")))
    assert [r.status for r in results] == ["complete", "complete"]
    asked = [r.json["messages"][-1]["content"] for r in llm.chat_requests]
    assert asked == ["alice: What time is it?", "bob: What day is it?"]
    assert [r.json["input"] for r in kokoro.requests if r.route == "speech"] == ["Answer for alice.",
                                                                                 "Answer for bob."]


async def test_the_first_clause_is_spoken_before_the_first_sentence_ends(make, servers) -> None:
    llm, kokoro, _ = servers
    llm.queue(Reply(text="Well, as far as I know, Paris is the capital of France. It is big.", token_delay=0.05))
    conversation, _ = make()
    result = await conversation.answer("Capital?", ALICE, SCOPE, GS)
    assert result.status == "complete"
    assert [r.json["input"] for r in kokoro.requests if r.route == "speech"] == [
        "Well, as far as I know,", "Paris is the capital of France.", "It is big."]
    assert result.answer == "Well, as far as I know, Paris is the capital of France. It is big."


async def test_warming_opens_connections_once_per_interval(make, servers) -> None:
    _, kokoro, whisper = servers
    conversation, _ = make()
    conversation.warm()
    await whisper.wait_for("health", 1)
    await kokoro.wait_for("health", 1)
    conversation.warm()  # a member starting again a moment later: the connections are still warm
    await asyncio.sleep(0.1)
    assert whisper.count("health") == 1 and kokoro.count("health") == 1


async def test_voice_turns_share_the_members_rate_limit_and_quota(make, servers, tmp_path: Path) -> None:
    llm, _, whisper = servers
    db = await Database.open(tmp_path / "limits.db")
    limits = MemberLimits(MemberBuckets(per_minute=1, burst=2),
                          TokenQuotas(SqliteQuotaStore(db), member_limit=30, server_limit=0))
    conversation, player = make(limits=limits)
    llm.queue(Reply(text="Paris.", usage=(20, 15)))
    first = await conversation.hear(utterance(), ALICE, SCOPE, GS)
    assert first.status == "complete"
    # 35 tokens used of 30: the next turn is refused before transcribing, and said once in text.
    for _ in range(2):
        refused = await conversation.hear(utterance(), ALICE, SCOPE, GS)
        assert refused.status == "ignored"
    assert len(llm.chat_requests) == 1 and len(whisper.requests) == 1
    [told] = [p for p in player.posts if "tokens for today" in p]  # once, not for every utterance
    assert told.startswith("🎙️ **alice:** You have used your 30 tokens for today; resets at 00:00 UTC")
    # Another speaker has their own share, and the rate limit applies to everyone's turns alike.
    bob = Speaker(2, "bob")
    llm.queue(Reply(text="Yes.", usage=(1, 1)), Reply(text="Again.", usage=(1, 1)))
    assert (await conversation.hear(utterance(), bob, SCOPE, GS)).status == "complete"
    assert (await conversation.hear(utterance(), bob, SCOPE, GS)).status == "complete"
    assert (await conversation.hear(utterance(), bob, SCOPE, GS)).status == "ignored"
    assert any(p.startswith("🎙️ **bob:** Slow down: you can ask again in") for p in player.posts)
    await db.close()


async def test_shared_memory_is_the_text_chats_and_separate_memory_the_calls_own(make, servers) -> None:
    """/voice memory: shared reads and writes kind "chat" (what /chat in that channel reads), separate kind "voice"."""
    llm, _, _ = servers
    conversation, _ = make()
    store = conversation.turns.store
    await store.add(SCOPE, Turn("user", "Typed in the chat", "bob", 2))
    llm.queue(Reply(text="Shared."), Reply(text="Separate."))
    await conversation.answer("Spoken, shared.", ALICE, SCOPE, replace(GS, memory="shared"))
    assert "bob: Typed in the chat" in [m["content"] for m in llm.chat_requests[0].json["messages"]]
    await conversation.answer("Spoken, separate.", ALICE, SCOPE, replace(GS, memory="separate"))
    assert "bob: Typed in the chat" not in [m["content"] for m in llm.chat_requests[1].json["messages"]]
    chat = [t.content for t in await store.recent(SCOPE, 1000, kind="chat")]
    voice = [t.content for t in await store.recent(SCOPE, 1000, kind="voice")]
    assert chat == ["Typed in the chat", "Spoken, shared.", "Shared."]
    assert voice == ["Spoken, separate.", "Separate."]


async def test_in_name_mode_talk_between_members_uses_none_of_their_rate(make, servers, tmp_path: Path) -> None:
    llm, _, _ = servers
    db = await Database.open(tmp_path / "limits.db")
    limits = MemberLimits(MemberBuckets(per_minute=1, burst=1),
                          TokenQuotas(SqliteQuotaStore(db), member_limit=0, server_limit=0))
    conversation, player = make(limits=limits)
    addressing = Addressing("name", ("EmuBot",), "")
    llm.queue(Reply(text="Paris."))

    def said(text: str) -> asyncio.Future[Transcript]:
        future: asyncio.Future[Transcript] = asyncio.get_running_loop().create_future()
        future.set_result(Transcript(text))
        return future

    for _ in range(3):
        chatter = await conversation.hear(utterance(), ALICE, SCOPE, GS, transcript=said("Nice weather."),
                                          addressing=addressing)
        assert chatter.status == "unaddressed"
    asked = await conversation.hear(utterance(), ALICE, SCOPE, GS, transcript=said("EmuBot, capital of France?"),
                                    addressing=addressing)
    assert asked.status == "complete" and len(llm.chat_requests) == 1
    again = await conversation.hear(utterance(), ALICE, SCOPE, GS, transcript=said("EmuBot, and of Spain?"),
                                    addressing=addressing)
    assert again.status == "ignored" and len(llm.chat_requests) == 1  # the one unit of rate was the named turn's
    assert [p for p in player.posts if p.startswith("🎙️ **alice:** Slow down")]
    await db.close()
