"""Several processes on one PostgreSQL: reminders, cache, voice. Figures for docs/SCALING.md.

Run: .venv/bin/python bench/scale.py [--skip-voice] [--voice-counts 1,2,4,8,12,16]

A throwaway PostgreSQL cluster (devtools/postgres.py) with production durability (fsync and
synchronous_commit on, unlike the test cluster), on the same 2 cores as everything else. Each result
has its baseline from the same run:
- reminders (bench/scale_reminders.py): lateness (deliver() called - due time) and exactly-once for
  1,000 due at the same instant, with 1, 2 and 4 processes on PostgreSQL against 1 process on SQLite;
  the same with a simulated 20 ms Discord call per delivery; and reminders added by another process
  100 ms before they are due (woken by NOTIFY);
- cache hits: latency of Cache.get on PostgreSQL against SQLite;
- voice (bench/scale_voice.py): concurrent sessions one process carries with p99 frame jitter under
  5 ms, against two processes; a bare sender process in the same window shows the machine's own floor.
Not run by CI.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from scale_reminders import Result, burst, pick, short_notice  # noqa: E402
from scale_voice import VoiceResult, capacity  # noqa: E402

from devtools.postgres import PostgresCluster  # noqa: E402
from services.storage.backend import Backend, PostgresBackend, SqliteBackend  # noqa: E402
from services.storage.db import Database  # noqa: E402
from services.storage.postgres.database import PgDatabase  # noqa: E402

DURABLE = {"fsync": "on", "synchronous_commit": "on", "full_page_writes": "on"}


async def cache_latency(backend: Backend, *, keys: int = 1_000, gets: int = 5_000) -> list[float]:
    cache = backend.cache()
    for i in range(keys):
        await cache.set("bench", f"key {i}", {"title": f"result {i}", "snippet": "x" * 300}, ttl=3600)
    rng = random.Random(7)
    timings = []
    for _ in range(gets):
        key = f"key {rng.randrange(keys)}"
        started = time.perf_counter()
        assert await cache.get("bench", key) is not None
        timings.append((time.perf_counter() - started) * 1000)
    return timings


async def cache_part(cluster: PostgresCluster, work: Path) -> tuple[list[float], list[float]]:
    sqlite = SqliteBackend(await Database.open(work / "cache.db"))
    try:
        lite = await cache_latency(sqlite)
    finally:
        await sqlite.close()
    async with cluster.database() as dsn:
        postgres = PostgresBackend(await PgDatabase.open(dsn))
        try:
            pg = await cache_latency(postgres)
        finally:
            await postgres.close()
    return lite, pg


def reminder_row(result: Result, baseline: Result) -> str:
    p50, p99, worst = (pick(result.lateness_ms, q) for q in (0.5, 0.99, 1.0))
    ratio = p99 / pick(baseline.lateness_ms, 0.99) if pick(baseline.lateness_ms, 0.99) else float("nan")
    once = "yes" if result.exactly_once and result.wrong_shard == 0 else f"NO (wrong shard {result.wrong_shard})"
    return (f"| {result.label} | {len(result.lateness_ms)} | {p50:.1f} | {p99:.1f} | {worst:.1f} | {ratio:.2f} | "
            f"{once} |")


def voice_rows(results: list[VoiceResult]) -> list[str]:
    return [f"| {r.processes} | {r.sessions} | {r.frames} | {r.jitter_p50_ms:.2f} | {r.jitter_p99_ms:.2f} | "
            f"{r.late_frames} | {r.reference_p99_ms:.2f} |" for r in results]


async def main(args: argparse.Namespace) -> None:
    report: list[str] = [f"Load average at the start: {' '.join(f'{x:.2f}' for x in os.getloadavg())} "
                         f"(the machine is shared), {os.cpu_count()} cores.", ""]
    with PostgresCluster(settings=DURABLE) as cluster, tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        print("cache hits...", flush=True)
        lite, pg = await cache_part(cluster, work)
        report += ["## Cache hits (Cache.get of a 300-byte JSON value, 5,000 hits over 1,000 keys)", "",
                   "| backend | mean ms | p50 ms | p99 ms | p99 vs SQLite |", "|---|---|---|---|---|"]
        for name, timings in (("SQLite (baseline)", lite), ("PostgreSQL", pg)):
            report.append(f"| {name} | {statistics.fmean(timings):.3f} | {pick(timings, 0.5):.3f} | "
                          f"{pick(timings, 0.99):.3f} | {pick(timings, 0.99) / pick(lite, 0.99):.2f} |")

        for deliver_ms in (0.0, 20.0):
            print(f"reminders, deliver {deliver_ms:g} ms...", flush=True)
            baseline = await burst("sqlite", 1, cluster, work, deliver_ms=deliver_ms)
            runs = [baseline] + [await burst("postgres", n, cluster, work, deliver_ms=deliver_ms) for n in (1, 2, 4)]
            what = "no Discord call" if not deliver_ms else f"a simulated {deliver_ms:g} ms Discord call each"
            report += ["", f"## 1,000 reminders due at the same instant ({what})", "",
                       "| set-up | delivered | p50 ms | p99 ms | max ms | p99 vs SQLite | exactly once, right shard |",
                       "|---|---|---|---|---|---|---|"]
            report += [reminder_row(r, baseline) for r in runs]
        print("reminders, short notice...", flush=True)
        notice = [await short_notice(n, cluster, work) for n in (1, 2, 4)]
        report += ["", "## Reminders added by another process 100 ms before due (one every 20 ms; NOTIFY wakes the "
                   "owner)", "", "| set-up | delivered | p50 ms | p99 ms | max ms | p99 vs 1 process | exactly once, "
                   "right shard |", "|---|---|---|---|---|---|---|"]
        report += [reminder_row(r, notice[0]) for r in notice]

        if not args.skip_voice:
            counts = [int(c) for c in args.voice_counts.split(",")]
            print("voice...", flush=True)
            one = await capacity(1, cluster, counts, repeats=args.repeats)
            two = await capacity(2, cluster, counts, repeats=args.repeats)

            def carried(results: list[VoiceResult]) -> int:
                return max((r.sessions for r in results if r.jitter_p99_ms < 5.0), default=0)

            report += ["", f"## Concurrent voice sessions (frames every 20 ms; goal p99 jitter < 5 ms; median of "
                       f"{args.repeats} runs)", "", "| processes | sessions | frames in 5 s | jitter p50 ms | jitter p99 ms | "
                       "gaps > 25 ms | reference sender p99 ms |", "|---|---|---|---|---|---|---|",
                       *voice_rows(one), *voice_rows(two), "",
                       f"Carried within the goal: {carried(one)} sessions by one process, {carried(two)} by two "
                       f"(ratio {carried(two) / max(1, carried(one)):.2f})."]
    print("\n".join(report))


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--skip-voice", action="store_true")
    parser.add_argument("--voice-counts", default="1,2,4,8,12,16,24")
    parser.add_argument("--repeats", type=int, default=3, help="voice runs per configuration (the median is kept)")
    asyncio.run(main(parser.parse_args()))
