"""Reminder scheduler benchmark: 100,000 pending reminders, then 1,000 falling due in one second.

Run: .venv/bin/python bench/reminders.py [--pending 100000] [--burst 1000]

Measures, each in a fresh process so memory numbers are not shared:
- start-up (open the database, start the scheduler, until it sleeps on the next due reminder) and
  resident memory, with an empty database and with N pending; a "load every pending row" start-up
  is shown as the contrast the design avoids;
- lateness (time deliver() is called minus the reminder's due time) for 1,000 reminders due in the
  same second, in two shapes: spread over the second, and all at the same instant; against a
  1-second polling loop (the baseline) on the same database in the same run. The burst starts
  half-way between two polls, the poller's average case.
Not run by CI.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from services.reminders import DeliveryResult, DueReminder, ReminderService, ReminderStore
from services.reminders.models import Outcome
from services.storage import Database
from services.storage.sqlite.reminders import SqliteReminderStore

_INSERT = ("INSERT INTO reminders (owner_id, guild_id, channel_id, dm, text, due_at, occurrence_at, recurrence, "
           "tz, created_at) VALUES (?, ?, ?, 0, ?, ?, ?, ?, 'UTC', ?)")
_REPEATS = 5
_DAILY = '{"kind":"daily","every":1,"at":"09:00:00","anchor":"2026-01-01"}'


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return math.nan


async def build(path: Path, pending: int) -> None:
    db = await Database.open(path)
    now = time.time()
    rng = random.Random(7)
    rows = [(rng.randrange(1, 5_000), 1, 2, f"bench reminder {i}", now + 86_400 + rng.random() * 300 * 86_400,
             0.0, _DAILY if i % 10 == 0 else None, now) for i in range(pending)]
    rows = [(*r[:4], r[4], r[4], *r[6:]) for r in rows]
    for start in range(0, len(rows), 10_000):
        await db.executemany(_INSERT, rows[start:start + 10_000])
    await db.close()


async def noop_deliver(due: DueReminder) -> DeliveryResult:
    return DeliveryResult.sent("channel")


# --- children ----------------------------------------------------------------------------------

async def child_startup(path: Path) -> dict[str, Any]:
    before = rss_mib()
    started = time.perf_counter()
    db = await Database.open(path)
    service = ReminderService(SqliteReminderStore(db))
    scheduler = service.start(noop_deliver)
    await asyncio.wait_for(scheduler.wait_idle(), 60)
    elapsed = time.perf_counter() - started
    result = {"startup_s": elapsed, "rss_mib": rss_mib(), "rss_before_mib": before,
              "next_due_at": scheduler.next_due_at}
    await service.stop()
    await db.close()
    return result


async def child_load_all(path: Path) -> dict[str, Any]:
    """The contrast: a scheduler that keeps every pending reminder in memory (heap or list)."""
    started = time.perf_counter()
    db = await Database.open(path)
    store = SqliteReminderStore(db)
    rows = await store.due(math.inf, 10_000_000)
    elapsed = time.perf_counter() - started
    result = {"startup_s": elapsed, "rss_mib": rss_mib(), "rows": len(rows)}
    await db.close()
    return result


async def add_burst(db: Database, count: int, first_due: float, spread: float) -> None:
    now = time.time()
    rows = [(900_000 + i, 1, 2, f"burst {i}", first_due + spread * i / count, first_due + spread * i / count,
             None, now) for i in range(count)]
    await db.executemany(_INSERT, rows)


async def child_lateness(path: Path, mode: str, burst: int, spread: float) -> dict[str, Any]:
    db = await Database.open(path)
    lateness: list[float] = []
    finished = asyncio.Event()

    async def deliver(due: DueReminder) -> DeliveryResult:
        lateness.append(time.time() - due.reminder.occurrence_at)
        if len(lateness) == burst:
            finished.set()
        return DeliveryResult.sent("channel")

    start = time.time()
    first_due = math.floor(start) + 2.5  # half-way between two ticks of the poller
    if mode == "scheduler":
        service = ReminderService(SqliteReminderStore(db))
        scheduler = service.start(deliver)
        await asyncio.wait_for(scheduler.wait_idle(), 60)
        await add_burst(db, burst, first_due, spread)
        scheduler.notify(first_due)  # what ReminderService.create does after each insert
        await asyncio.wait_for(finished.wait(), 60)
        stats = scheduler.stats()
        await service.stop()
        extra = {"scheduler_p99": stats.lateness_p99}
    else:
        await add_burst(db, burst, first_due, spread)
        store = SqliteReminderStore(db)
        poller = asyncio.create_task(poll_loop(store, deliver))
        await asyncio.wait_for(finished.wait(), 60)
        poller.cancel()
        extra = {}
    await db.close()
    lateness.sort()
    return {"p50": statistics.median(lateness), "p99": lateness[math.ceil(0.99 * len(lateness)) - 1],
            "max": lateness[-1], "first": min(lateness), "count": len(lateness), **extra}


async def poll_loop(store: ReminderStore, deliver: Any) -> None:
    """Baseline: tick on every whole second (like tasks.loop(seconds=1), no drift), deliver what is due,
    then mark the whole batch in one transaction (the poller's best case)."""
    while True:
        await asyncio.sleep(math.floor(time.time()) + 1 - time.time())
        tick = time.time()
        due = await store.due(tick, 100_000)
        for reminder in due:
            await deliver(DueReminder(reminder, tick - reminder.occurrence_at, 1))
        if due:
            delivered = time.time()
            await store.apply([Outcome(r.id, "delivered", r.due_at, r.occurrence_at, 0, None, delivered)
                               for r in due])


# --- orchestration -----------------------------------------------------------------------------

def run_child(*args: str) -> dict[str, Any]:
    out = subprocess.run([sys.executable, __file__, "--child", *args], check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def median_run(*args: str) -> dict[str, Any]:
    runs = [run_child(*args) for _ in range(_REPEATS)]
    return {key: statistics.median(r[key] for r in runs) for key in ("startup_s", "rss_mib")}


def ms(seconds: float) -> str:
    return f"{seconds * 1000:8.1f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pending", type=int, default=100_000)
    parser.add_argument("--burst", type=int, default=1_000)
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        mode, path, *rest = args.child
        if mode == "startup":
            result = asyncio.run(child_startup(Path(path)))
        elif mode == "load_all":
            result = asyncio.run(child_load_all(Path(path)))
        else:
            result = asyncio.run(child_lateness(Path(path), mode, int(rest[0]), float(rest[1])))
        print(json.dumps(result))
        return

    with tempfile.TemporaryDirectory() as tmp:
        empty, full = Path(tmp, "empty.db"), Path(tmp, "full.db")
        started = time.perf_counter()
        asyncio.run(build(empty, 0))
        asyncio.run(build(full, args.pending))
        print(f"Built databases ({args.pending:,} pending) in {time.perf_counter() - started:.1f} s "
              f"({full.stat().st_size / 2**20:.1f} MiB)\n")

        base = median_run("startup", str(empty))
        loaded = median_run("startup", str(full))
        naive = median_run("load_all", str(full))
        print(f"Start-up and memory (fresh process each, median of {_REPEATS} runs)")
        print(f"  empty database          start-up {ms(base['startup_s'])}   RSS {base['rss_mib']:7.1f} MiB")
        print(f"  {args.pending:,} pending     start-up {ms(loaded['startup_s'])}   RSS {loaded['rss_mib']:7.1f} MiB"
              f"   ({loaded['rss_mib'] - base['rss_mib']:+.1f} MiB, x{loaded['startup_s'] / base['startup_s']:.2f} "
              "start-up)")
        print(f"  contrast: load all rows start-up {ms(naive['startup_s'])}   RSS {naive['rss_mib']:7.1f} MiB"
              f"   (+{naive['rss_mib'] - base['rss_mib']:.1f} MiB)\n")

        print(f"Lateness of {args.burst:,} reminders due in one second, {args.pending:,} others pending "
              "(deliver() call time minus due time)")
        for label, spread in (("spread over the second", 1.0), ("all at the same instant", 0.0)):
            results = {}
            for mode in ("scheduler", "poll"):
                copy = Path(tmp, f"{mode}.db")
                shutil.copyfile(full, copy)
                results[mode] = run_child(mode, str(copy), str(args.burst), str(spread))
                copy.unlink()
            s, p = results["scheduler"], results["poll"]
            print(f"  {label}:")
            print(f"    1 s polling loop  p50 {ms(p['p50'])}  p99 {ms(p['p99'])}  max {ms(p['max'])}")
            print(f"    scheduler         p50 {ms(s['p50'])}  p99 {ms(s['p99'])}  max {ms(s['max'])}"
                  f"  first {ms(s['first'])}")
            print(f"    ratio poll/scheduler  p50 x{p['p50'] / max(s['p50'], 1e-9):.0f}  "
                  f"p99 x{p['p99'] / max(s['p99'], 1e-9):.0f}")
            goal = "met" if s["first"] <= 0.050 else "MISSED"
            print(f"    goal: wakes within 50 ms of the due time: {goal} ({ms(s['first']).strip()})")


if __name__ == "__main__":
    main()
