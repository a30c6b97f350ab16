"""The request sent to the model: system prompt, named speakers, newest history within the budget."""

from __future__ import annotations

from services.chat.context import ContextBuilder, Prompt, load_system_prompt
from services.llm import Message
from services.storage.db import Database
from services.storage.sqlite.conversations import SqliteConversationStore


async def test_history_named_speakers_and_budget(tmp_path):
    db = await Database.open(tmp_path / "bot.db")
    try:
        store = SqliteConversationStore(db)
        builder = ContextBuilder(store, "Be nice.", token_budget=60)
        await builder.remember(7, Prompt("x" * 200, "Old", 1), "an old answer")
        await builder.remember(7, Prompt("hello", "Carol", 2), "Hi Carol")
        await builder.remember(8, Prompt("other channel", "Dave", 3), "elsewhere")
        messages = await builder.build(7, Prompt("and you?", "Dave", 3))
        assert messages == [Message("system", "Be nice."), Message("user", "hello", "Carol"),
                            Message("assistant", "Hi Carol"), Message("user", "and you?", "Dave")]
        # A prompt bigger than the budget still goes in, alone.
        messages = await builder.build(7, Prompt("y" * 400, "Dave", 3))
        assert messages[1:] == [Message("user", "y" * 400, "Dave")]
    finally:
        await db.close()


async def test_failed_answer_is_remembered_with_its_status(tmp_path):
    db = await Database.open(tmp_path / "bot.db")
    try:
        store = SqliteConversationStore(db)
        builder = ContextBuilder(store, "", token_budget=1000)
        await builder.remember(1, Prompt("q", "Carol", 2), "half an ans", "interrupted")
        await builder.remember(1, Prompt("nothing came", "Carol", 2), "", "failed")
        turns = await store.recent(1, 1000)
        assert [(t.role, t.content, t.status) for t in turns] == [
            ("user", "q", "complete"), ("assistant", "half an ans", "interrupted"), ("user", "nothing came", "complete")]
        assert (await builder.build(1, Prompt("next", "Carol", 2)))[0] == Message("user", "q", "Carol")
    finally:
        await db.close()


def test_system_prompt_file_wins(tmp_path):
    path = tmp_path / "prompt.txt"
    path.write_text("You are a pirate.\n", encoding="utf-8")
    assert load_system_prompt("default", str(path)) == "You are a pirate."
    assert load_system_prompt("default", "") == "default"
