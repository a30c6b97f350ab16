"""Chat end to end: the real bot on the emulator, a local LLM server speaking Ollama's and OpenAI's wire formats."""

from __future__ import annotations

import asyncio
import itertools
import time
from typing import Any

import pytest

from devtools.discord_emulator import DiscordEmulator
from devtools.fakes.llm_server import FakeLLMServer, Reply
from discord_ui.stream import INTERRUPTED, UNAVAILABLE
from services.chat.memory import Turn
from services.storage import Database
from services.storage.sqlite.conversations import SqliteConversationStore

INTERVAL = 0.3


def llm_env(server: FakeLLMServer, **overrides: Any) -> dict[str, Any]:
    """Ollama first, the same server's OpenAI dialect as the fallback."""
    return {"ollama_host": server.url, "openai_base_url": server.openai_url, "llm_fallback_enabled": True,
            "llm_fallback_models": "openai:gpt-4o-mini", "chat_stream_edit_interval": INTERVAL, **overrides}


@pytest.fixture
async def chat_bot(bot_factory: Any, llm: FakeLLMServer):
    return await bot_factory(extensions=["cogs.chat"], **llm_env(llm))


def answer_text(messages: list[Any]) -> str:
    """The answer as the channel shows it, notes (italic lines after a blank line) left out."""
    return "".join(m.content for m in messages)


def strip_note(text: str) -> str:
    head, sep, tail = text.rpartition("\n\n*")
    return head if sep and tail.endswith("*") else text


async def test_chat_streams_with_paced_edits_and_exact_final_text(chat_bot, emulator: DiscordEmulator, llm):
    words = [f"word{i} " for i in range(30)]
    llm.queue(Reply(chunks=words, token_delay=0.05))
    inter = await emulator.invoke(emulator.member("carol"), emulator.channel("general"), "chat", prompt="Count for me")
    result = await inter.wait_done(timeout=10)
    assert inter.acknowledged_after < 1  # deferred at once
    message = result.original
    # The first words are visible while the model is still writing (30 chunks x 50 ms = 1.5 s).
    assert len(message.contents[0]) < len("".join(words))
    await emulator.wait_until(lambda: message.content == "".join(words), timeout=10, message="the whole answer")
    times = [v.at for v in message.versions if v.content]  # the "thinking" placeholder left out
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert gaps and min(gaps) >= INTERVAL * 0.9, gaps
    assert len(times) <= 1.5 / INTERVAL + 3
    request = llm.chat_requests[-1].json
    assert request["messages"][0]["role"] == "system"
    assert request["messages"][-1] == {"role": "user", "content": "Carol: Count for me"}


def fences_balance(text: str) -> bool:
    return sum(1 for line in text.split("\n") if line.lstrip().startswith("```")) % 2 == 0


async def test_long_answer_with_code_block_continues_in_new_messages(chat_bot, emulator, llm):
    prose = " ".join(f"Sentence number {i} explains a detail." for i in range(60))
    code = "\n".join(f"    print('line {i}')  # a comment to make it longer" for i in range(60))
    output = f"{prose}\n\n```python\ndef main():\n{code}\n```\n\nThat is all."
    assert len(output) > 5000
    llm.queue(Reply(text=output))
    inter = await emulator.invoke(emulator.member("carol"), emulator.channel("general"), "chat", prompt="long one")
    await inter.wait_done(timeout=10)
    general = emulator.channel("general")

    def answer() -> list[Any]:
        return [m for m in emulator.bot_messages(general) if m.content]

    await emulator.wait_until(lambda: len(answer()) >= 3 and answer()[-1].content.endswith("That is all."),
                              timeout=10, message="the last part of the answer")
    messages = answer()
    contents = [m.content for m in messages]
    assert all(len(c) <= 2000 for c in contents)
    assert all(fences_balance(c) for c in contents), contents
    # Continuations reopen the block with its language; dropping the added fences gives the output back.
    rebuilt = contents[0]
    for previous, current in itertools.pairwise(contents):
        if current.startswith("```python\n") and previous.endswith("```") and not previous.endswith("```\n\n"):
            rebuilt = rebuilt[: rebuilt.rfind("```")]
            if not output.startswith(rebuilt):
                rebuilt = rebuilt[:-1]  # the newline added before the closing fence
            current = current[len("```python\n"):]
        rebuilt += current
    assert rebuilt == output
    assert any(c.startswith("```python\n") for c in contents[1:])


async def test_mention_and_reply_are_answered_in_the_channel(chat_bot, emulator, llm):
    general = emulator.channel("general")
    llm.queue(Reply(text="Hi Carol!", first_token_delay=0.3), Reply(text="Still here."))
    asked = await emulator.send_message(emulator.member("carol"), general, "hello there", mentions_bot=True)
    answer = await emulator.wait_for_message(general, lambda m: m.content == "Hi Carol!", timeout=10)
    assert answer.reference and int(answer.reference["message_id"]) == asked.id
    assert not answer.versions[-1].mentions  # the reply does not ping the asker
    assert any(t.channel_id == general.id for t in emulator.records.typing)
    await emulator.send_message(emulator.member("dave"), general, "are you?", reply_to=answer)
    await emulator.wait_for_message(general, lambda m: m.content == "Still here.", timeout=10)
    second = llm.chat_requests[-1].json["messages"]
    assert [m["content"] for m in second[1:]] == ["Carol: hello there", "Hi Carol!", "Dave: are you?"]


async def test_other_bots_and_unaddressed_messages_are_ignored(chat_bot, emulator, llm):
    general = emulator.channel("general")
    await emulator.send_message(emulator.member("otherbot"), general, "hi bot", mentions_bot=True)
    await emulator.send_message(emulator.member("carol"), general, "just talking")
    llm.queue(Reply(text="Answer to dave."))
    await emulator.send_message(emulator.member("dave"), general, "question", mentions_bot=True)
    await emulator.wait_for_message(general, lambda m: m.content == "Answer to dave.", timeout=10)
    assert len(llm.chat_requests) == 1
    assert llm.chat_requests[0].json["messages"][-1]["content"] == "Dave: question"


async def test_reset_clears_memory_and_needs_manage_messages(chat_bot, emulator, llm):
    general = emulator.channel("general")
    llm.queue(Reply(text="First answer."))
    inter = await emulator.invoke(emulator.member("carol"), general, "chat", prompt="remember this")
    first = await inter.wait_done(timeout=10)
    await emulator.wait_until(lambda: first.original.content == "First answer.", timeout=10,
                              message="the first answer")

    refused = await (await emulator.invoke(emulator.member("carol"), general, "reset")).wait_done(timeout=5)
    assert refused.ephemeral and "Manage Messages" in refused.text

    llm.queue(Reply(text="Second answer."))
    inter = await emulator.invoke(emulator.member("carol"), general, "chat", prompt="and now?")
    second = await inter.wait_done(timeout=10)
    await emulator.wait_until(lambda: second.original.content == "Second answer.", timeout=10,
                              message="the second answer")
    contents = [m["content"] for m in llm.chat_requests[-1].json["messages"]]
    assert contents[1:] == ["Carol: remember this", "First answer.", "Carol: and now?"]

    done = await (await emulator.invoke(emulator.member("bob"), general, "reset")).wait_done(timeout=5)
    assert not done.ephemeral and "forgot" in done.text
    llm.queue(Reply(text="Fresh."))
    inter = await emulator.invoke(emulator.member("carol"), general, "chat", prompt="who am I?")
    third = await inter.wait_done(timeout=10)
    await emulator.wait_until(lambda: third.original.content == "Fresh.", timeout=10, message="fresh answer")
    assert [m["content"] for m in llm.chat_requests[-1].json["messages"]][1:] == ["Carol: who am I?"]


async def test_members_are_answered_at_once_in_one_channel_and_memory_keeps_arrival_order(chat_bot, emulator, llm):
    general = emulator.channel("general")
    # Replies are handed out in request order: the slow one goes to the first prompt.
    llm.queue(Reply(text="Answer one.", first_token_delay=1.0), Reply(text="Answer two."), Reply(text="Third."))
    one = await emulator.send_message(emulator.member("carol"), general, "one", mentions_bot=True)
    await llm.wait_for_chat_requests(1)
    two = await emulator.send_message(emulator.member("dave"), general, "two", mentions_bot=True)
    second = await emulator.wait_for_message(general, lambda m: m.content == "Answer two.", timeout=10)
    first = await emulator.wait_for_message(general, lambda m: m.content == "Answer one.", after=one, timeout=10)
    assert second.created_at < first.created_at  # Dave did not wait for Carol's slow answer
    assert int(first.reference["message_id"]) == one.id and int(second.reference["message_id"]) == two.id
    await emulator.send_message(emulator.member("alice"), general, "three", mentions_bot=True)
    await emulator.wait_for_message(general, lambda m: m.content == "Third.", timeout=10)
    third = [m["content"] for m in llm.chat_requests[2].json["messages"]]
    assert third[1:] == ["Carol: one", "Answer one.", "Dave: two", "Answer two.", "Alice: three"]  # arrival order


async def test_mid_stream_failure_continues_on_fallback_with_a_note(chat_bot, emulator, llm):
    llm.queue(Reply(text="The first half of the answer", error_after=3), Reply(text=" and the second half."))
    inter = await emulator.invoke(emulator.member("carol"), emulator.channel("general"), "chat", prompt="go")
    result = await inter.wait_done(timeout=10)
    await emulator.wait_until(lambda: "continued on" in result.original.content, timeout=10, message="the note")
    content = result.original.content
    expected = "The first half  and the second half."  # three chunks, then the fallback's text
    assert strip_note(content) == expected
    assert content.endswith("*(ollama failed mid-answer, continued on openai:gpt-4o-mini)*")
    assert llm.chat_requests[-1].json["messages"][-1] == {"role": "assistant", "content": "The first half "}


async def test_all_providers_down_is_one_line_within_three_seconds(bot_factory, emulator):
    await bot_factory(extensions=["cogs.chat"])  # every LLM URL points at a closed port
    started = asyncio.get_running_loop().time()
    inter = await emulator.invoke(emulator.member("carol"), emulator.channel("general"), "chat", prompt="hello?")
    result = await inter.wait_done(timeout=5)
    assert asyncio.get_running_loop().time() - started < 3
    assert result.text == UNAVAILABLE
    assert "Traceback" not in result.text


async def test_model_output_pings_nobody(chat_bot, emulator, llm):
    alice = emulator.member("alice")
    moderator = emulator.role("Moderator")
    llm.queue(Reply(text=f"Hey @everyone and @here, <@{alice.id}> and <@&{moderator.id}>!"))
    inter = await emulator.invoke(alice, emulator.channel("general"), "chat", prompt="ping everyone")
    result = await inter.wait_done(timeout=10)
    await emulator.wait_until(lambda: result.original.content.endswith("!"), timeout=10, message="whole answer")
    for version in result.original.versions:
        assert not version.mention_everyone and not version.mentions and not version.mention_roles
    llm.queue(Reply(text="@everyone again"))
    await emulator.send_message(emulator.member("carol"), emulator.channel("general"), "again", mentions_bot=True)
    answer = await emulator.wait_for_message(emulator.channel("general"), lambda m: m.content == "@everyone again")
    assert not answer.versions[-1].mention_everyone and not answer.versions[-1].mentions


async def test_cooldown_and_long_prompt_are_refused(bot_factory, emulator, llm):
    await bot_factory(extensions=["cogs.chat"], **llm_env(llm, chat_user_cooldown=30, chat_max_prompt_chars=50))
    general = emulator.channel("general")
    long = await (await emulator.invoke(emulator.member("carol"), general, "chat", prompt="x" * 51)).wait_done(timeout=5)
    assert long.ephemeral and "too long" in long.text and "50" in long.text
    await (await emulator.invoke(emulator.member("carol"), general, "chat", prompt="hi")).wait_done(timeout=10)
    again = await (await emulator.invoke(emulator.member("carol"), general, "chat", prompt="hi")).wait_done(timeout=5)
    assert again.ephemeral and "again in 30 s" in again.text
    await emulator.send_message(emulator.member("carol"), general, "hi", mentions_bot=True)
    refused = await emulator.wait_for_message(general, lambda m: "Slow down" in m.content, timeout=5)
    assert "again in" in refused.content
    assert len(llm.chat_requests) == 1


async def test_dms_are_answered(chat_bot, emulator, llm):
    dm = emulator.dm_channel(emulator.member("carol"))
    llm.queue(Reply(text="Hello in private."))
    await emulator.send_message(emulator.member("carol"), dm, "hi")
    await emulator.wait_for_message(dm, lambda m: m.content == "Hello in private.", timeout=10)


async def test_shutdown_interrupts_honestly_and_memory_survives_restart(bot_factory, emulator, llm, make_settings):
    settings = make_settings(**llm_env(llm))
    general = emulator.channel("general")
    first = await bot_factory(extensions=["cogs.chat"], settings=settings)
    llm.queue(Reply(chunks=["This answer ", "never ", "ends"], stall_after=2))
    inter = await emulator.invoke(emulator.member("carol"), general, "chat", prompt="tell me a story")
    result = await inter.wait_done(timeout=10)
    await emulator.wait_until(lambda: result.original.content == "This answer never ", timeout=10,
                              message="the partial answer")
    await first.close()
    assert result.original.content == "This answer never \n\n" + INTERRUPTED

    # A turn older than CHAT_HISTORY_DAYS is pruned when the next bot starts.
    db = await Database.open(settings.database_path)
    turns = await SqliteConversationStore(db).recent(general.id, 1000)
    assert [(t.content, t.status) for t in turns] == [("tell me a story", "complete"),
                                                      ("This answer never ", "interrupted")]
    await SqliteConversationStore(db, clock=lambda: time.time() - 31 * 86400).add(
        general.id, Turn("user", "ancient history", "Dave", 1))
    await db.close()

    await bot_factory(extensions=["cogs.chat"], settings=settings)
    llm.queue(Reply(text="And then it ended."))
    inter = await emulator.invoke(emulator.member("carol"), general, "chat", prompt="go on")
    result = await inter.wait_done(timeout=10)
    await emulator.wait_until(lambda: result.original.content == "And then it ended.", timeout=10,
                              message="the second answer")
    contents = [m["content"] for m in llm.chat_requests[-1].json["messages"]][1:]
    assert contents == ["Carol: tell me a story", "This answer never ", "Carol: go on"]


async def test_chat_channels_answer_everything_and_threads_have_their_own_memory(bot_factory, emulator, llm, caplog):
    random_, thread = emulator.channel("random"), emulator.channel("general-thread")
    await bot_factory(extensions=["cogs.chat"], **llm_env(llm, chat_channel_ids=[random_.id]))
    llm.queue(Reply(text="Random answer."), Reply(text="Thread answer."))
    await emulator.send_message(emulator.member("carol"), random_, "no mention needed")
    await emulator.wait_for_message(random_, lambda m: m.content == "Random answer.", timeout=10)
    await emulator.send_message(emulator.member("carol"), thread, "in the thread", mentions_bot=True)
    await emulator.wait_for_message(thread, lambda m: m.content == "Thread answer.", timeout=10)
    assert [m["content"] for m in llm.chat_requests[-1].json["messages"]][1:] == ["Carol: in the thread"]
    assert not [r for r in caplog.records if r.levelname == "ERROR"]  # a mention is no unknown command


async def test_own_answers_never_trigger_the_bot_and_dms_can_be_off(bot_factory, emulator, llm):
    await bot_factory(extensions=["cogs.chat"], **llm_env(llm, chat_allow_dms=False))
    general, dm = emulator.channel("general"), emulator.dm_channel(emulator.member("carol"))
    llm.queue(Reply(text=f"{emulator.bot_user.mention} talk to yourself"), Reply(text="Second."))
    await emulator.send_message(emulator.member("carol"), dm, "hello in a DM")
    await emulator.send_message(emulator.member("carol"), general, "first", mentions_bot=True)
    await emulator.wait_for_message(general, lambda m: m.content.endswith("talk to yourself"), timeout=10)
    await emulator.send_message(emulator.member("dave"), general, "second", mentions_bot=True)
    await emulator.wait_for_message(general, lambda m: m.content == "Second.", timeout=10)
    assert [r.json["messages"][-1]["content"] for r in llm.chat_requests] == ["Carol: first", "Dave: second"]
    assert not emulator.bot_messages(dm)


async def test_reset_in_a_dm_is_the_users_own(chat_bot, emulator, llm):
    dm = emulator.dm_channel(emulator.member("carol"))
    llm.queue(Reply(text="Noted."), Reply(text="Blank slate."))
    await emulator.send_message(emulator.member("carol"), dm, "my secret is 42")
    await emulator.wait_for_message(dm, lambda m: m.content == "Noted.", timeout=10)
    done = await (await emulator.invoke(emulator.member("carol"), dm, "reset")).wait_done(timeout=5)
    assert "forgot" in done.text
    await emulator.send_message(emulator.member("carol"), dm, "what is my secret?")
    await emulator.wait_for_message(dm, lambda m: m.content == "Blank slate.", timeout=10)
    assert [m["content"] for m in llm.chat_requests[-1].json["messages"]][1:] == ["Carol: what is my secret?"]
