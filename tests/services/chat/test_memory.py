"""Conversation memory on both backends: per scope, newest turns within the budget, clear, prune, restart."""

from __future__ import annotations

from services.chat.memory import Turn
from services.storage.backend import Backend
from tests.conftest import Backends


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
