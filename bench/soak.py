"""Soak: steady mixed traffic for a long time; the bot's memory, descriptors, tasks and database stay flat.

Run: .venv/bin/python bench/soak.py [--minutes 30] [--rate 2] [--members 50] [--every 30] [--keep-minutes M] [--warmup 10]

The bot runs ALONE in a child process (this script with --child): the real Bot with the text cogs,
plus a probe that prints, every --every seconds, its resident memory, open file descriptors, live
asyncio tasks and event-loop lag (sleep 10 ms, measure the overshoot). This process runs the
Discord emulator (devtools/discord_emulator) and the fake LLM/search servers (devtools/fakes) and sends
`--rate` prompts a second, a rotating mix of /chat, /ask, /search, /wiki, /remind and mentions
(tests/hardening/traffic.py), checking that each is answered. At the end it prints the samples and
compares the first and the last fifth of the run. Not run by CI.

With `--keep-minutes M` every kind of history (chat turns, finished reminders, health history, cached
answers) is kept M minutes instead of days, so the database reaches its steady-state size within the
run and "flat" can be checked; without it the tables grow with the history the defaults keep.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import sqlite3
import statistics
import sys
import tempfile
import time
from collections import deque
from pathlib import Path
from typing import Any

from services.storage.backend import SqliteBackend

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

STATS = "SOAK-STATS "
READY = "SOAK-READY"
COGS = ["cogs.admin", "cogs.chat", "cogs.search", "cogs.reminders"]


# --- the child: the bot and its probe ------------------------------------------------------------

def rss_bytes(pid: int | str = "self") -> int:
    with open(f"/proc/{pid}/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def open_fds(pid: int | str = "self") -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


async def probe(every: float) -> None:
    lags: list[float] = []
    next_report = time.monotonic() + every
    while True:
        start = time.perf_counter()
        await asyncio.sleep(0.01)
        lags.append(time.perf_counter() - start - 0.01)
        if time.monotonic() >= next_report:
            lags.sort()
            stats = {"rss": rss_bytes(), "fds": open_fds(), "tasks": len(asyncio.all_tasks()) - 1,
                     "lag_p50": lags[len(lags) // 2], "lag_p99": lags[int(len(lags) * 0.99)], "lag_max": lags[-1]}
            print(STATS + json.dumps(stats), flush=True)
            lags.clear()
            next_report += every


async def child(every: float) -> None:
    import aiohttp

    from bot import Bot
    from config.log_setup import setup_logging
    from config.settings import load_settings
    from discord_ui.routing import route_discord
    from services.storage import Database

    settings = load_settings(dict(os.environ))
    setup_logging(settings)
    route_discord(settings)
    timeout = aiohttp.ClientTimeout(total=settings.api_request_timeout)
    async with await Database.open(settings.database_path) as db, aiohttp.ClientSession(timeout=timeout) as session:
        bot = Bot(settings, session, SqliteBackend(db), extensions=COGS)

        async def on_ready() -> None:
            print(READY, flush=True)

        bot.add_listener(on_ready, "on_ready")
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, lambda: loop.create_task(bot.close()))
        prober = asyncio.create_task(probe(every))
        try:
            async with bot:
                await bot.start(settings.discord_token)
        finally:
            prober.cancel()


# --- the parent: emulator, fakes, traffic, samples -----------------------------------------------

def table_sizes(path: Path) -> dict[str, int]:
    """Rows per table, read through a separate read-only connection."""
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5) as conn:
        names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        return {n: conn.execute(f'SELECT COUNT(*) FROM "{n}"').fetchone()[0] for n in names}


def db_bytes(path: Path, suffix: str = "") -> int:
    """Size of the database file (suffix "") or of its write-ahead log (suffix "-wal")."""
    file = path.with_name(path.name + suffix)
    return file.stat().st_size if file.exists() else 0


def compare(samples: list[dict[str, Any]], label: str) -> None:
    """Median of the first fifth of `samples` against the last fifth, for each measure."""
    fifth = max(1, len(samples) // 5)
    print(f"{label}: first fifth against last fifth (medians)")
    for name, scale, unit in (("rss", 2**20, "MiB"), ("fds", 1, ""), ("tasks", 1, ""), ("db", 1024, "KiB"),
                              ("wal", 1024, "KiB"), ("store", 1024, "KiB"), ("lag_p99", 1e-3, "ms")):
        first = statistics.median(s[name] for s in samples[:fifth]) / scale
        last = statistics.median(s[name] for s in samples[-fifth:]) / scale
        ratio = last / first if first else float("nan")
        print(f"  {name:8s} {first:9.1f} {unit:3s} -> {last:9.1f} {unit:3s}  ratio {ratio:5.2f}")


async def parent(args: argparse.Namespace) -> int:
    from devtools.discord_emulator import DiscordEmulator
    from devtools.discord_emulator.certs import make_certificates
    from devtools.fakes.llm_server import FakeLLMServer
    from devtools.fakes.search_servers import FakeSearchServers
    from devtools.testenv import bot_test_env, env_value, service_env
    from devtools.traffic import KINDS, Traffic

    work = Path(tempfile.mkdtemp(prefix="soak-"))
    database = work / "bot.db"
    emu = DiscordEmulator(certificates=make_certificates(work / "tls"))
    await emu.start()
    llm = await FakeLLMServer().start()
    search = FakeSearchServers()
    await search.start()
    people = [await emu.add_member(f"member{i:03d}") for i in range(args.members)]
    rooms = [emu.channel("general"), emu.channel("random")] + [await emu.add_channel(f"room{i}") for i in range(3)]
    env = {**bot_test_env(database), **emu.bot_env(),
           **{k.upper(): env_value(v) for k, v in service_env(llm, search, log_level="WARNING").items()},
           "PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(ROOT)}
    if args.keep_minutes:
        days = str(args.keep_minutes / 1440)
        env.update(CHAT_HISTORY_DAYS=days, REMINDER_HISTORY_DAYS=days, HEALTH_HISTORY_DAYS=days,
                   API_CACHE_TTL=str(args.keep_minutes * 60),
                   WIKIPEDIA_CACHE_TTL=str(args.keep_minutes * 60), URBAN_CACHE_TTL=str(args.keep_minutes * 60))
    proc = await asyncio.create_subprocess_exec(sys.executable, __file__, "--child", "--every", str(args.every),
                                                env=env, cwd=work, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.STDOUT)
    samples: list[dict[str, Any]] = []
    tail: deque[str] = deque(maxlen=20)  # the bot's last lines, shown if it does not start
    ready = asyncio.Event()
    began = time.monotonic()

    async def read() -> None:
        assert proc.stdout is not None
        async for raw in proc.stdout:
            line = raw.decode("utf-8", "replace").rstrip()
            tail.append(line)
            if line.startswith(STATS):
                sample = {"t": time.monotonic() - began, **json.loads(line[len(STATS):]),
                          "db": db_bytes(database), "wal": db_bytes(database, "-wal"),
                          "store": db_bytes(database) + db_bytes(database, "-wal"),
                          "rows": table_sizes(database) if database.exists() else {}}
                samples.append(sample)
                print(f"{sample['t'] / 60:6.1f} min  rss {sample['rss'] / 2**20:6.1f} MiB  fds {sample['fds']:3d}  "
                      f"tasks {sample['tasks']:3d}  db {sample['db'] / 1024:6.0f} KiB  wal {sample['wal'] / 1024:5.0f} KiB  "
                      f"lag p99 {sample['lag_p99'] * 1000:5.1f} ms  rows: cache {sample['rows'].get('cache', 0)}, "
                      f"turns {sample['rows'].get('conversation_turns', 0)}, "
                      f"reminders {sample['rows'].get('reminders', 0)}", flush=True)
            elif line == READY:
                ready.set()
            elif args.verbose or "ERROR" in line or "Traceback" in line:
                print("bot:", line, flush=True)

    reader = asyncio.create_task(read())
    exited = asyncio.ensure_future(proc.wait())
    await asyncio.wait({exited, asyncio.ensure_future(ready.wait())}, timeout=60, return_when=asyncio.FIRST_COMPLETED)
    if not ready.is_set():
        if proc.returncode is None:
            proc.kill()
        await reader
        print(f"the bot did not start (exit code {proc.returncode}); its last output:", *tail, sep="\n  ")
        await llm.close()
        await search.close()
        await emu.stop()
        return 1
    traffic = Traffic(emu, llm, search, remind_in=5.0)
    settling: set[asyncio.Task[Any]] = set()
    t0 = time.monotonic()
    end = t0 + args.minutes * 60
    sent = 0
    print(f"soak: {args.minutes} min at {args.rate}/s, {args.members} members, history kept "
          f"{f'{args.keep_minutes:g} min' if args.keep_minutes else 'the default days'}, database {database}", flush=True)
    while time.monotonic() < end:
        due = t0 + sent / args.rate
        await asyncio.sleep(max(0.0, due - time.monotonic()))  # pacing the traffic, not waiting for outcomes
        item = await traffic.fire(KINDS[sent % len(KINDS)], people[sent % len(people)], rooms[sent % len(rooms)])
        task = asyncio.create_task(traffic.settle(item, 60))
        settling.add(task)
        task.add_done_callback(settling.discard)
        sent += 1
    await asyncio.gather(*settling)
    reminders = [s for s in traffic.sent if s.kind == "remind"]
    await emu.wait_until(lambda: all(traffic.reminder_deliveries(s.token) for s in reminders), timeout=30,
                         message="every reminder delivered")
    await asyncio.sleep(args.every * 1.5)  # one more sample after the traffic stopped
    proc.terminate()
    code = await proc.wait()
    await reader
    rows = table_sizes(database)
    await llm.close()
    await search.close()
    await emu.stop()

    outcomes = {k: sum(1 for s in traffic.sent if s.outcome == k) for k in ("answered", "told", "lost")}
    doubled = sum(1 for s in reminders if len(traffic.reminder_deliveries(s.token)) != 1)
    acks = sorted(s.inter.acknowledged_after for s in traffic.sent if s.inter is not None and s.inter.acknowledged_after)
    print(f"\nprompts {len(traffic.sent)}: {outcomes}; reminders {len(reminders)}, not exactly once: {doubled}; "
          f"bot exit code {code}")
    if acks:
        print(f"acknowledgement p50 {acks[len(acks) // 2] * 1000:.1f} ms, p99 {acks[int(len(acks) * 0.99)] * 1000:.1f} ms, "
              f"max {acks[-1] * 1000:.1f} ms")
    compare(samples, "whole run")
    settled = [s for s in samples if s["t"] >= args.warmup * 60]
    if len(settled) >= 5:
        compare(settled, f"after the {args.warmup:g}-minute warm-up")
    print(f"database rows at the end: {rows}")
    for s in traffic.sent:
        if s.outcome != "answered":
            print("not answered:", s.kind, s.token, s.outcome, s.detail[:160])
    return 0 if outcomes["lost"] == 0 and doubled == 0 else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=30)
    parser.add_argument("--rate", type=float, default=2.0, help="prompts per second")
    parser.add_argument("--members", type=int, default=50)
    parser.add_argument("--every", type=float, default=30, help="seconds between samples")
    parser.add_argument("--keep-minutes", type=float, default=0,
                        help="keep history and cached answers this many minutes (0: the settings' defaults)")
    parser.add_argument("--warmup", type=float, default=10,
                        help="minutes left out of the second comparison (caches filling, history reaching its size)")
    parser.add_argument("--verbose", action="store_true", help="show the bot's log")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        asyncio.run(child(args.every))
        return 0
    logging.basicConfig(level=logging.WARNING)
    return asyncio.run(parent(args))


if __name__ == "__main__":
    sys.exit(main())
