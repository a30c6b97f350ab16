"""Conversation memory on both backends: per scope, newest turns within the budget, clear, prune, restart."""

from __future__ import annotations

from services.chat.memory import MessageRef, Turn
from services.storage.backend import Backend
from tests.conftest import Backends, column


async def test_recent_turns_fit_the_budget_oldest_first(backend: Backend) -> None:
    store = backend.conversations()
    for i in range(10):
        await store.add(1, Turn("user", f"question {i} " + "x" * 40, author_name="ann", author_id=5))
        await store.add(1, Turn("assistant", f"answer {i} " + "y" * 40))
    await store.add(2, Turn("user", "other channel"))
    per_turn = Turn("user", "question 0 " + "x" * 40, author_name="ann").tokens
    turns = await store.recent(1, token_budget=per_turn * 4)
    assert 3 <= len(turns) <= 4
    assert turns[-1].content.startswith("answer 9")
    assert [t.id for t in turns] == sorted(t.id for t in turns)
    assert all("other channel" not in t.content for t in turns)
    assert await store.recent(1, token_budget=1) == []
    first = (await store.recent(1, 10_000, max_turns=1))[0]
    assert (first.role, first.author_name, first.author_id, first.status) == ("assistant", None, None, "complete")


async def test_clear_prune_and_restart(backends: Backends) -> None:
    now = [1_000_000.0]
    before = await backends.open()
    store = before.conversations(clock=lambda: now[0])
    await store.add(1, Turn("user", "old"))
    now[0] += 10 * 86400
    await store.add(1, Turn("user", "new", author_name="ann", author_id=2**60))  # 64-bit Discord ids
    await store.add(1, Turn("assistant", "cut off", status="interrupted"))
    await store.add(2, Turn("user", "elsewhere"))
    assert await store.prune(older_than_days=5) == 1
    await before.close()

    store = (await backends.open()).conversations()
    turns = await store.recent(1, 10_000)
    assert [(t.content, t.status) for t in turns] == [("new", "complete"), ("cut off", "interrupted")]
    assert turns[0].author_id == 2**60 and turns[0].created_at == 1_000_000.0 + 10 * 86400
    assert await store.clear(1) == 2
    assert await store.count(1) == 0 and await store.count(2) == 1


async def test_voice_memory_is_apart_from_the_text_chat_of_the_same_channel(backend: Backend) -> None:
    store = backend.conversations()
    await store.add_exchange(7, Turn("user", "typed in the voice channel's chat", "ann", 5), Turn("assistant", "typed"))
    await store.add_exchange(7, Turn("user", "said aloud", "bob", 6), Turn("assistant", "spoken"), kind="voice")
    assert [t.content for t in await store.recent(7, 1000)] == ["typed in the voice channel's chat", "typed"]
    assert [t.content for t in await store.recent(7, 1000, kind="voice")] == ["said aloud", "spoken"]
    assert await store.clear(7) == 2
    assert await store.count(7) == 0 and await store.count(7, kind="voice") == 2


async def test_deleting_any_message_of_an_exchange_erases_the_exchange(backend: Backend) -> None:
    store = backend.conversations()
    await store.add_exchange(1, Turn("user", "q1", "ann", 5), Turn("assistant", "a1"),
                                     messages=[MessageRef(1, 100), MessageRef(1, 101), MessageRef(1, 102)])
    await store.add_exchange(1, Turn("user", "q2", "ann", 5), Turn("assistant", "a2"), messages=[MessageRef(1, 200)])
    await store.add_exchange(1, Turn("user", "q3", "bob", 6), Turn("assistant", "a3"), messages=[MessageRef(1, 300)])
    assert await store.forget_messages([102]) == 2  # the second message of the answer
    assert [t.content for t in await store.recent(1, 1000)] == ["q2", "a2", "q3", "a3"]
    assert await store.forget_messages([999, 102]) == 0  # unknown, or already forgotten
    # A purge of 600 messages (more than one statement's worth) with two of ours among them.
    assert await store.forget_messages([*range(1000, 1600), 200, 300]) == 4
    assert await store.recent(1, 1000) == []
    assert await column(backend, "SELECT message_id FROM conversation_messages") == []


async def test_forget_author_erases_their_turns_and_answers_everywhere_and_names_transcripts(backend: Backend) -> None:
    store = backend.conversations()
    await store.add(3, Turn("user", "before exchanges existed", "ann", 5))  # a row from before migration 0011
    await store.add_exchange(1, Turn("user", "ann asks", "ann", 5), Turn("assistant", "answer to ann"),
                             messages=[MessageRef(1, 10)])
    spoken = await store.add_exchange(2, Turn("user", "ann says", "ann", 5), kind="voice",
                                      messages=[MessageRef(20, 21, transcript_of=5)])
    await store.add_answer(2, Turn("assistant", "spoken answer"), exchange_id=spoken, kind="voice")
    await store.add_exchange(1, Turn("user", "bob asks", "bob", 6), Turn("assistant", "answer to bob"),
                             messages=[MessageRef(1, 30)])
    forgotten = await store.forget_author(5)
    assert forgotten.turns == 5
    assert forgotten.transcripts == [MessageRef(20, 21, 5)]
    assert await column(backend, "SELECT content FROM conversation_turns ORDER BY id") == ["bob asks", "answer to bob"]
    assert await column(backend, "SELECT message_id FROM conversation_messages") == [30]
    assert (await store.forget_author(5)).turns == 0


async def test_prune_also_drops_old_message_links(backend: Backend) -> None:
    now = [1_000_000.0]
    store = backend.conversations(clock=lambda: now[0])
    await store.add_exchange(1, Turn("user", "old", "ann", 5), Turn("assistant", "a"), messages=[MessageRef(1, 1)])
    now[0] += 31 * 86400
    await store.add_exchange(1, Turn("user", "new", "ann", 5), Turn("assistant", "b"), messages=[MessageRef(1, 2)])
    assert await store.prune(30) == 2
    assert await column(backend, "SELECT message_id FROM conversation_messages") == [2]
