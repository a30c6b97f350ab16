"""Pruning finished reminders: how long other database work waits while a large backlog is deleted.

Run: .venv/bin/python bench/reminder_prune.py [--finished 100000] [--pending 100000]

A database with `--pending` pending and `--finished` finished reminders (all finished long ago) is
pruned twice, each on a fresh copy: in batches of 500 (what the bot does, `ReminderStore.prune_finished`)
and, as the baseline, with one DELETE of everything. Meanwhile a writer adds a reminder every 5 ms, as
/remind does; its wait is what a user would feel. Not run by CI.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from services.reminders.models import NewReminder
from services.storage import Database
from services.storage.sqlite.reminders import SqliteReminderStore

_INSERT = ("INSERT INTO reminders (owner_id, guild_id, channel_id, dm, text, due_at, occurrence_at, tz, created_at, "
           "state, finished_at) VALUES (?, 1, 2, 0, 'stretch', ?, ?, 'UTC', 0, ?, ?)")


async def build(path: Path, pending: int, finished: int) -> None:
    db = await Database.open(path)
    far = time.time() + 86_400
    rows = [(i % 500, far, far, "pending", None) for i in range(pending)]
    rows += [(i % 500, 1_000.0, 1_000.0, ("delivered", "cancelled", "failed")[i % 3], 1_000.0 + i) for i in range(finished)]
    await db.executemany(_INSERT, rows)
    await db.close()


async def run(path: Path, batch: int) -> dict[str, float]:
    db = await Database.open(path)
    store = SqliteReminderStore(db)
    waits: list[float] = []
    done = asyncio.Event()

    async def writer() -> None:
        while not done.is_set():
            start = time.perf_counter()
            await store.add(NewReminder(owner_id=7, guild_id=1, channel_id=2, dm=False, text="x",
                                        due_at=time.time() + 60, recurrence=None, tz="UTC"))
            waits.append(time.perf_counter() - start)
            await asyncio.sleep(0.005)

    task = asyncio.create_task(writer())
    await asyncio.sleep(0.05)
    start = time.perf_counter()
    removed = await store.prune_finished(time.time(), batch=batch)
    took = time.perf_counter() - start
    done.set()
    await task
    await db.close()
    waits.sort()
    return {"removed": removed, "took": took, "p50": statistics.median(waits),
            "p99": waits[int(len(waits) * 0.99)], "max": waits[-1]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--finished", type=int, default=100_000)
    parser.add_argument("--pending", type=int, default=100_000)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="prune-"))
    template = work / "template.db"
    asyncio.run(build(template, args.pending, args.finished))
    results = {}
    for name, batch in (("batched (500)", 500), ("one DELETE (baseline)", 10**9)):
        copy = work / "run.db"
        for suffix in ("", "-wal", "-shm"):
            Path(str(copy) + suffix).unlink(missing_ok=True)
        shutil.copy(template, copy)
        results[name] = asyncio.run(run(copy, batch))
        r = results[name]
        print(f"{name:22s} removed {r['removed']:,} in {r['took'] * 1000:7.0f} ms; a concurrent /remind waited "
              f"p50 {r['p50'] * 1000:6.1f} ms, p99 {r['p99'] * 1000:7.1f} ms, max {r['max'] * 1000:7.1f} ms")
    batched, single = results["batched (500)"], results["one DELETE (baseline)"]
    print(f"\nworst wait of a concurrent write: {batched['max'] / single['max']:.2f}x the baseline's; "
          f"total prune time {batched['took'] / single['took']:.2f}x")
    shutil.rmtree(work)


if __name__ == "__main__":
    main()
