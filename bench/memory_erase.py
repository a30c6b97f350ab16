"""What erasable memory costs: storing an exchange with its message links, forgetting deleted messages,
and /forget-me, against the read every prompt already does (recent history) in the same run.

Run: .venv/bin/python bench/memory_erase.py [--exchanges 50000] [--repeat 200]

A fresh SQLite database in a temporary folder is filled with `--exchanges` exchanges (a prompt and an
answer each, linked to two Discord messages) spread over 200 channels and 500 members; then each
operation is timed `--repeat` times and reported as p50/p99 and as a ratio to the baseline:
  baseline        ConversationStore.recent(channel, 3000 tokens): what every chat prompt reads
  store (old)     two add() calls, as before migration 0011 (prompt, then answer)
  store exchange  add_exchange(): prompt, answer and two message links in one transaction
  delete event    forget_messages([id]) for a message the bot never saw (every MESSAGE_DELETE)
  delete ours     forget_messages([id]) for a message of an exchange (erases two turns)
  purge 100       forget_messages(100 ids) (one MESSAGE_DELETE_BULK)
  forget-me       forget_author() for a member with exchanges in many channels
Not run by CI.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from services.chat.memory import ConversationStore, MessageRef, Turn  # noqa: E402
from services.storage import Database  # noqa: E402
from services.storage.sqlite.conversations import SqliteConversationStore  # noqa: E402

CHANNELS, MEMBERS = 200, 500


async def fill(db: Database, exchanges: int) -> None:
    """Rows written directly in large transactions (the store's own path is what is timed later)."""
    rng = random.Random(1)
    async with db.transaction() as tx:
        for i in range(exchanges):
            channel, member = rng.randrange(CHANNELS), rng.randrange(MEMBERS)
            prompt_id = 2 * i + 1
            await tx.execute(
                "INSERT INTO conversation_turns (id, scope_id, kind, role, author_id, author_name, content, created_at, "
                "status, exchange_id) VALUES (?, ?, 'chat', 'user', ?, ?, ?, ?, 'complete', ?)",
                (prompt_id, channel, member, f"m{member}", f"question {i} " + "x" * 60, time.time(), prompt_id))
            await tx.execute(
                "INSERT INTO conversation_turns (id, scope_id, kind, role, content, created_at, status, exchange_id) "
                "VALUES (?, ?, 'chat', 'assistant', ?, ?, 'complete', ?)",
                (prompt_id + 1, channel, f"answer {i} " + "y" * 120, time.time(), prompt_id))
            await tx.executemany(
                "INSERT INTO conversation_messages (message_id, channel_id, exchange_id, created_at) VALUES (?, ?, ?, ?)",
                [(10_000_000 + 2 * i, channel, prompt_id, time.time()), (10_000_001 + 2 * i, channel, prompt_id,
                                                                           time.time())])


async def timed(repeat: int, op: Callable[[int], Awaitable[object]]) -> list[float]:
    times = []
    for i in range(repeat):
        started = time.perf_counter()
        await op(i)
        times.append((time.perf_counter() - started) * 1000)
    return times


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--exchanges", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        db = await Database.open(Path(folder) / "bench.db")
        store = SqliteConversationStore(db)
        await fill(db, args.exchanges)
        rng = random.Random(2)
        n = args.repeat
        results: dict[str, list[float]] = {}
        results["baseline (recent)"] = await timed(n, lambda i: store.recent(rng.randrange(CHANNELS), 3000))
        results["store (old: 2 adds)"] = await timed(n, lambda i: _old_store(store, i))
        results["store exchange"] = await timed(n, lambda i: store.add_exchange(
            5, Turn("user", "q", "ann", 1), Turn("assistant", "a"),
            messages=[MessageRef(5, 90_000_000 + 2 * i), MessageRef(5, 90_000_001 + 2 * i)]))
        results["delete event (not ours)"] = await timed(n, lambda i: store.forget_messages([1 + i]))
        ours = rng.sample(range(args.exchanges), n + 100 * n)
        results["delete ours"] = await timed(n, lambda i: store.forget_messages([10_000_000 + 2 * ours[i]]))
        results["purge 100"] = await timed(n, lambda i: store.forget_messages(
            [10_000_001 + 2 * e for e in ours[n + 100 * i:n + 100 * (i + 1)]]))
        forget_me = await timed(min(n, MEMBERS), lambda i: store.forget_author(i))
        results["forget-me (~100 exchanges)"] = forget_me
        await db.close()
    base = statistics.median(results["baseline (recent)"])
    print(f"{args.exchanges} exchanges, {args.repeat} runs each; ratios are p50 / baseline p50")
    for name, values in results.items():
        print(f"  {name:28} p50 {statistics.median(values):7.3f} ms  p99 {pct(values, 0.99):7.3f} ms  "
              f"x{statistics.median(values) / base:6.2f}")


async def _old_store(store: ConversationStore, i: int) -> None:
    await store.add(6, Turn("user", "q", "ann", 1))
    await store.add(6, Turn("assistant", "a"))


if __name__ == "__main__":
    asyncio.run(main())
