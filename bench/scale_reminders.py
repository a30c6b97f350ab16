"""Reminder delivery across processes, for bench/scale.py: lateness and exactly-once.

Each worker is a real process running what a bot process runs for reminders: the backend's store,
the coordinator (leader and shard leases) and the ReminderService's scheduler, with a deliver callable
that records when it was called (no Discord: the lateness is the scheduler's, claims and wake-ups
included, as bench/reminders.py measures it; `deliver_ms` adds a simulated REST call).

Two scenarios:
- burst: 1,000 reminders over 8 guilds (spread over the shards) due at the same instant, set before
  the workers start; SQLite with one process is the baseline of the same run.
- short notice (PostgreSQL): reminders added by another process (the bench) 100 ms before they are due,
  one every 20 ms, so each delivery needs that process's NOTIFY to wake the owning worker.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from services.reminders import DeliveryResult, DueReminder, ReminderService  # noqa: E402
from services.reminders.models import NewReminder  # noqa: E402
from services.reminders.service import CLAIM_AHEAD  # noqa: E402
from services.shards import Shards  # noqa: E402
from services.storage.backend import Backend, PostgresBackend, SqliteBackend  # noqa: E402
from services.storage.db import Database  # noqa: E402
from services.storage.postgres.database import PgDatabase  # noqa: E402

GUILDS = [(k + 1) << 22 for k in range(8)]  # guild k is on shard k % count for 1, 2, 4 and 8 shards


@dataclass
class Result:
    label: str
    processes: int
    lateness_ms: list[float]
    exactly_once: bool
    wrong_shard: int  # deliveries by a process that does not own the reminder's shard


def pick(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)] if ordered else math.nan


async def open_backend(kind: str, where: str) -> Backend:
    if kind == "postgres":
        return PostgresBackend(await PgDatabase.open(where, max_size=4))
    return SqliteBackend(await Database.open(where))


# --- worker process ------------------------------------------------------------------------------

async def worker(kind: str, where: str, count: int, ids: list[int], deliver_ms: float) -> None:
    backend = await open_backend(kind, where)
    home = Shards.of(count, ids)
    coordinator = backend.coordinator(home, interval=0.5)
    service = ReminderService(backend.reminders(), coordinator=coordinator, max_attempts=3, lookahead=CLAIM_AHEAD)
    calls: list[tuple[int, float, float]] = []

    async def deliver(due: DueReminder) -> DeliveryResult:
        calls.append((due.reminder.id, time.time(), due.reminder.occurrence_at))
        if deliver_ms:
            await asyncio.sleep(deliver_ms / 1000)
        return DeliveryResult.sent("channel")

    settled = asyncio.Event()
    coordinator.on_change(lambda: settled.set() if coordinator.shards.ids == home.ids else settled.clear())
    await backend.start()
    await coordinator.start()
    if coordinator.shards.ids == home.ids:
        settled.set()
    await settled.wait()  # started together: the first adopts the others' shards, then gives them back
    service.start(deliver)
    print("ready", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    await service.stop()
    await coordinator.close()
    await backend.close()
    print(json.dumps(calls), flush=True)


# --- the bench side ------------------------------------------------------------------------------

class Workers:
    def __init__(self, kind: str, where: str, count: int, deliver_ms: float) -> None:
        self.kind, self.where, self.count, self.deliver_ms = kind, where, count, deliver_ms
        self.processes: list[asyncio.subprocess.Process] = []

    async def start(self) -> None:
        for shard in range(self.count):
            self.processes.append(await asyncio.create_subprocess_exec(
                sys.executable, __file__, "--worker", self.kind, self.where, str(self.count), str(shard),
                str(self.deliver_ms), stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE))
        for process in self.processes:
            assert process.stdout is not None
            line = await asyncio.wait_for(process.stdout.readline(), 60)
            if line.strip() != b"ready":
                raise RuntimeError(f"worker did not start: {line!r}")

    async def stop(self) -> list[list[tuple[int, float, float]]]:
        results = []
        for process in self.processes:
            assert process.stdin is not None and process.stdout is not None
            process.stdin.write(b"stop\n")
            await process.stdin.drain()
            results.append(json.loads(await asyncio.wait_for(process.stdout.readline(), 60)))
            await process.wait()
        return results


@contextlib.asynccontextmanager
async def database(kind: str, cluster: Any, work: Path, name: str) -> AsyncIterator[str]:
    if kind == "postgres":
        async with cluster.database() as dsn:
            yield dsn
    else:
        yield str(work / f"{name}.db")


async def delivered(backend: Backend, total: int, timeout: float = 120.0) -> None:
    db = backend.db  # type: ignore[attr-defined]
    query = "SELECT count(*) FROM reminders WHERE state = 'delivered'"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        row = await (db.fetchone(query) if isinstance(db, Database) else db.fetchrow(query))
        if row[0] >= total:
            return
        await asyncio.sleep(0.1)
    raise RuntimeError(f"not every reminder was delivered within {timeout:g} s")


def summarise(label: str, processes: int, calls: list[list[tuple[int, float, float]]], expected: set[int],
              owner: dict[int, int]) -> Result:
    counts = Counter(i for worker in calls for i, _, _ in worker)
    lateness = [(called - due) * 1000 for worker in calls for _, called, due in worker]
    wrong = sum(1 for shard, worker in enumerate(calls) for i, _, _ in worker if owner[i] % processes != shard)
    return Result(label, processes, lateness, set(counts) == expected and set(counts.values()) == {1}, wrong)


async def burst(kind: str, processes: int, cluster: Any, work: Path, *, total: int = 1_000,
                deliver_ms: float = 0.0, lead: float = 6.0) -> Result:
    async with database(kind, cluster, work, f"burst-{kind}-{processes}-{deliver_ms:g}") as where:
        backend = await open_backend(kind, where)
        store = backend.reminders()
        due = time.time() + lead
        owner: dict[int, int] = {}
        for i in range(total):
            guild = GUILDS[i % len(GUILDS)]
            added = await store.add(NewReminder(i + 1, guild, guild + 1, False, f"bench {i}", due, None, "UTC"))
            owner[added.id] = (guild >> 22) % 8
        workers = Workers(kind, where, processes, deliver_ms)
        await workers.start()
        if time.time() > due - 0.5:
            raise RuntimeError("the workers took too long to start: raise lead")
        await delivered(backend, total)
        calls = await workers.stop()
        await backend.close()
    label = f"{'SQLite' if kind == 'sqlite' else 'PostgreSQL'}, {processes} process{'es' if processes > 1 else ''}"
    return summarise(label, processes, calls, set(owner), owner)


async def short_notice(processes: int, cluster: Any, work: Path, *, total: int = 200, notice: float = 0.1,
                       every: float = 0.02) -> Result:
    async with cluster.database() as dsn:
        backend = await open_backend("postgres", dsn)
        store = backend.reminders()
        workers = Workers("postgres", dsn, processes, 0.0)
        await workers.start()
        owner: dict[int, int] = {}
        for i in range(total):
            guild = GUILDS[i % len(GUILDS)]
            added = await store.add(NewReminder(i + 1, guild, guild + 1, False, f"soon {i}", time.time() + notice,
                                                None, "UTC"))
            owner[added.id] = (guild >> 22) % 8
            await asyncio.sleep(every)
        await delivered(backend, total)
        calls = await workers.stop()
        await backend.close()
    return summarise(f"PostgreSQL, {processes} process{'es' if processes > 1 else ''}, added by another process "
                     f"{notice * 1000:.0f} ms ahead", processes, calls, set(owner), owner)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--worker", nargs=5, metavar=("KIND", "WHERE", "COUNT", "SHARD", "DELIVER_MS"))
    args = parser.parse_args()
    kind, where, count, shard, deliver_ms = args.worker
    asyncio.run(worker(kind, where, int(count), [int(shard)], float(deliver_ms)))


if __name__ == "__main__":
    main()
