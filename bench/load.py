"""Load: 40 members send 230 mixed commands in 10 s over two channels; the model answers in a fixed 0.5 s.

Run: .venv/bin/python bench/load.py [--baseline main] [--members 40] [--window 10] [--model-time 0.5]

The mix is issue 15's: 90 /chat, 30 mentions, 40 /search (SearXNG), 35 /wiki, 35 /remind, spread
evenly over the window (seeded shuffle), members taking turns, in #general and #random. The real bot
runs alone in a child process (this script with --child), with the settings' defaults except the
services' URLs (the fake model answers every prompt in exactly --model-time seconds, however many run
at once; SearXNG and Wikipedia answer at once). This process runs the Discord emulator and the fakes
and measures, per command kind: acknowledgement, time to the final answer (p50/p99), how many were
shown a "waiting in line" notice; the time each prompt waited before the model (or SearXNG) got it
(queue wait); and fairness, the spread of the members' first-answer times.

With --baseline REF (default main) the same run is first made against that commit's code
(`git archive REF`, read-only; nothing in the repository changes), so every figure has a baseline
measured on the same machine in the same run; `--baseline none` skips it. Goal: every command
answered, none refused, answer p99 under 3 x the model time plus the provider's queue (the bound is
computed and printed). Not run by CI.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import random
import signal
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = str(Path(__file__).resolve())
READY = "LOAD-READY"
COGS = ["cogs.admin", "cogs.chat", "cogs.search", "cogs.reminders"]
MIX = {"chat": 90, "mention": 30, "search": 40, "wiki": 35, "remind": 35}
MODEL_KINDS = ("chat", "mention")


# --- the child: the bot alone, from the source tree it is given ------------------------------------

async def child() -> None:
    import aiohttp

    from bot import Bot
    from config.log_setup import setup_logging
    from config.settings import load_settings
    from discord_ui.routing import route_discord
    from services.storage.backend import open_backend

    settings = load_settings(dict(os.environ))
    setup_logging(settings)
    route_discord(settings)
    timeout = aiohttp.ClientTimeout(total=settings.api_request_timeout)
    async with open_backend(settings) as backend, aiohttp.ClientSession(timeout=timeout) as session:
        bot = Bot(settings, session, backend, extensions=COGS)

        async def on_ready() -> None:
            print(READY, flush=True)

        bot.add_listener(on_ready, "on_ready")
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, lambda: loop.create_task(bot.close()))
        async with bot:
            await bot.start(settings.discord_token)


# --- the parent -----------------------------------------------------------------------------------

@dataclass
class Stamps:
    """When the fakes first saw each token: the model's request, the SearXNG query."""

    model: dict[str, float] = field(default_factory=dict)
    search: dict[str, float] = field(default_factory=dict)


class StampedAnswers(dict):  # type: ignore[type-arg]
    """SearXNG's canned answers, noting when each query reached the server."""

    def __init__(self, stamps: dict[str, float]) -> None:
        super().__init__()
        self._stamps = stamps

    def get(self, key: Any, default: Any = None) -> Any:
        token = str(key).split()[-1]
        self._stamps.setdefault(token, time.monotonic())
        return super().get(key, default)


def fixed_time_model(seconds: float, stamps: Stamps) -> Any:
    """`Answer for tokN.` in four pieces, the whole answer taking exactly `seconds` from the request."""
    from devtools.fakes.llm_server import Reply
    from devtools.traffic import TOKEN

    def respond(body: Any) -> Reply:
        last = next(m["content"] for m in reversed(body["messages"]) if m["role"] == "user")
        tokens = TOKEN.findall(last)
        token = tokens[-1] if tokens else "nothing"
        stamps.model.setdefault(token, time.monotonic())
        step = seconds / 5
        return Reply(chunks=["Answer ", "for ", token, "."], first_token_delay=2 * step, token_delay=step)

    return respond


def plan(members: int, window: float, seed: int) -> list[tuple[float, str, int, int]]:
    """(offset, kind, member index, channel index) for every command, in sending order."""
    kinds = [k for k, n in MIX.items() for _ in range(n)]
    rng = random.Random(seed)
    rng.shuffle(kinds)
    return [(window * i / len(kinds), kind, i % members, (i // members) % 2) for i, kind in enumerate(kinds)]


def baseline_tree(ref: str, into: Path) -> Path:
    """The code of `ref`, unpacked from `git archive` (read-only: no worktree, no checkout)."""
    archive = into / "baseline.tar"
    with archive.open("wb") as out:
        subprocess.run(["git", "-C", str(ROOT), "archive", "--format=tar", ref], stdout=out, check=True)
    tree = into / "baseline"
    tree.mkdir()
    with tarfile.open(archive) as tar:
        tar.extractall(tree, filter="data")
    return tree


async def run_once(label: str, root: Path, args: argparse.Namespace, work: Path) -> dict[str, Any]:
    from devtools.discord_emulator import DiscordEmulator
    from devtools.discord_emulator.certs import make_certificates
    from devtools.fakes.llm_server import FakeLLMServer
    from devtools.fakes.search_servers import FakeSearchServers
    from devtools.traffic import Traffic

    folder = work / label
    folder.mkdir()
    emu = DiscordEmulator(certificates=make_certificates(folder / "tls"))
    await emu.start()
    llm = await FakeLLMServer().start()
    search = FakeSearchServers()
    await search.start()
    stamps = Stamps()
    search.searxng_answers = StampedAnswers(stamps.search)
    people = [await emu.add_member(f"member{i:02d}") for i in range(args.members)]
    rooms = [emu.channel("general"), emu.channel("random")]
    env = {**emu.bot_env(), "DATABASE_PATH": str(folder / "bot.db"), "LOG_LEVEL": "WARNING",
           "OLLAMA_HOST": llm.url, "WEB_SEARCH_ENABLED": "true", "WEB_SEARCH_ENGINE": "searxng",
           "CHAT_USER_COOLDOWN": "0", **search.settings_env(),
           "PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(root)}
    if root == ROOT:
        env.update(dict(item.split("=", 1) for item in args.set))
    proc = await asyncio.create_subprocess_exec(sys.executable, SCRIPT, "--child",
                                                "--root", str(root), env=env, cwd=folder,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    ready = asyncio.Event()
    tail: list[str] = []

    async def read() -> None:
        assert proc.stdout is not None
        async for raw in proc.stdout:
            line = raw.decode("utf-8", "replace").rstrip()
            tail[:] = [*tail[-19:], line]
            if line == READY:
                ready.set()
            elif args.verbose or "ERROR" in line or "Traceback" in line:
                print(f"{label} bot:", line, flush=True)

    reader = asyncio.create_task(read())
    try:
        await asyncio.wait_for(ready.wait(), 60)
    except TimeoutError:
        proc.kill()
        await reader
        raise SystemExit(f"the {label} bot did not start; its last output:\n  " + "\n  ".join(tail)) from None
    traffic = Traffic(emu, llm, search, remind_in=5.0)  # writes its canned answers into the stamped dict
    llm.responder = fixed_time_model(args.model_time, stamps)
    await asyncio.sleep(1.0)  # let the first health round pass
    settling: list[asyncio.Task[Any]] = []
    began = time.monotonic()
    for offset, kind, member, room in plan(args.members, args.window, args.seed):
        await asyncio.sleep(max(0.0, began + offset - time.monotonic()))  # pacing arrivals, not outcomes
        item = await traffic.fire(kind, people[member], rooms[room])
        settling.append(asyncio.create_task(traffic.settle(item, args.settle)))
    sent_in = time.monotonic() - began
    await asyncio.gather(*settling)
    reminders = [s for s in traffic.sent if s.kind == "remind"]
    try:
        await emu.wait_until(lambda: all(traffic.reminder_deliveries(s.token) for s in reminders), timeout=30,
                             message="every reminder delivered")
    except AssertionError as exc:
        print(f"{label}: {exc}")
    doubled = sum(1 for s in reminders if len(traffic.reminder_deliveries(s.token)) != 1)
    proc.terminate()
    await proc.wait()
    await reader
    await llm.close()
    await search.close()
    await emu.stop()
    return {"label": label, "sent": traffic.sent, "stamps": stamps, "sent_in": sent_in, "doubled": doubled,
            "max_in_flight": llm.max_in_flight}


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))] if ordered else float("nan")


def summarize(run: dict[str, Any]) -> dict[str, Any]:
    sent = run["sent"]
    out: dict[str, Any] = {"outcomes": Counter(s.outcome for s in sent)}
    acks = [s.inter.acknowledged_after for s in sent if s.inter is not None and s.inter.acknowledged_after]
    out["ack"] = (pct(acks, 50), pct(acks, 99))
    for kind in MIX:
        times = [s.settled_at - s.sent_at for s in sent if s.kind == kind and s.settled_at and s.outcome == "answered"]
        out[kind] = (pct(times, 50), pct(times, 99), sum(1 for s in sent if s.kind == kind and s.queued),
                     sum(1 for s in sent if s.kind == kind and s.outcome != "answered"))
    model = [run["stamps"].model[s.token] - s.sent_at for s in sent if s.kind in MODEL_KINDS
             and s.token in run["stamps"].model]
    searches = [run["stamps"].search[s.token] - s.sent_at for s in sent if s.kind == "search"
                and s.token in run["stamps"].search]
    out["wait_model"] = (pct(model, 50), pct(model, 99), max(model, default=float("nan")))
    starts = sorted(run["stamps"].model.values())
    out["model_rate"] = (len(starts) - 1) / (starts[-1] - starts[0]) if len(starts) > 1 else float("nan")
    out["wait_search"] = (pct(searches, 50), pct(searches, 99), max(searches, default=float("nan")))
    firsts: dict[int, float] = {}
    for s in sent:
        if s.kind != "remind" and s.member.id not in firsts and s.settled_at:
            firsts[s.member.id] = s.settled_at - s.sent_at
    values = list(firsts.values())
    out["fair"] = (pct(values, 50), max(values), max(values) - min(values), statistics.pstdev(values))
    all_llm = [s.settled_at - s.sent_at for s in sent if s.kind in MODEL_KINDS and s.settled_at]
    out["llm_p99"] = pct(all_llm, 99)
    return out


def provider_queue(arrivals: list[float], slots: int, seconds: float) -> float:
    """The longest wait any work-conserving provider with `slots` places imposes on these arrivals."""
    free = [min(arrivals)] * slots if arrivals else []
    longest = 0.0
    for at in sorted(arrivals):
        start = max(at, min(free))
        free[free.index(min(free))] = start + seconds
        longest = max(longest, start - at)
    return longest


def report(runs: list[dict[str, Any]], args: argparse.Namespace) -> int:
    stats = [summarize(r) for r in runs]
    labels = [r["label"] for r in runs]
    n_llm = sum(MIX[k] for k in MODEL_KINDS)
    slots = args.provider_slots
    uniform = max(0.0, n_llm * args.model_time / slots - args.window)
    queue = provider_queue([s.sent_at for s in runs[-1]["sent"] if s.kind in MODEL_KINDS], slots, args.model_time)
    bound = 3 * args.model_time + queue
    print(f"\nload: {sum(MIX.values())} commands ({', '.join(f'{k} {n}' for k, n in MIX.items())}) by {args.members} "
          f"members over 2 channels in {args.window:g} s (sent in {', '.join(format(r['sent_in'], '.1f') for r in runs)} s); "
          f"the model answers in {args.model_time:g} s")
    width = 34
    print(f"{'':26}" + "".join(f"{label:>{width}}" for label in labels) + ("      ratio" if len(runs) == 2 else ""))

    def row(name: str, cells: list[str], ratio: float | None = None) -> None:
        extra = f"   {ratio:8.2f}" if ratio is not None and len(runs) == 2 else ""
        print(f"{name:26}" + "".join(f"{c:>{width}}" for c in cells) + extra)

    row("answered / told / lost", [f"{s['outcomes']['answered']} / {s['outcomes']['told']} / {s['outcomes']['lost']}"
                                   for s in stats])
    row("ack p50 / p99 (ms)", [f"{s['ack'][0] * 1000:.0f} / {s['ack'][1] * 1000:.0f}" for s in stats])
    for kind in MIX:
        cells = [f"{s[kind][0]:.2f} / {s[kind][1]:.2f} s ({s[kind][2]} queued"
                 + (f", {s[kind][3]} not answered)" if s[kind][3] else ")") for s in stats]
        ratio = stats[1][kind][1] / stats[0][kind][1] if len(stats) == 2 and stats[0][kind][1] else None
        row(f"{kind} answer p50 / p99", cells, ratio)
    for name, key in (("wait for model p50/p99/max", "wait_model"), ("wait for search p50/p99/max", "wait_search")):
        cells = [f"{s[key][0]:.2f} / {s[key][1]:.2f} / {s[key][2]:.2f} s" for s in stats]
        ratio = stats[1][key][1] / stats[0][key][1] if len(stats) == 2 and stats[0][key][1] else None
        row(name, cells, ratio)
    row("model requests per second", [f"{s['model_rate']:.1f}" for s in stats])
    cells = [f"{s['fair'][0]:.2f} / {s['fair'][1]:.2f} / {s['fair'][2]:.2f} s" for s in stats]
    ratio = stats[1]["fair"][2] / stats[0]["fair"][2] if len(stats) == 2 and stats[0]["fair"][2] else None
    row("first answer p50/max/spread", cells, ratio)
    row("reminders not exactly once", [str(r["doubled"]) for r in runs])
    mine = stats[-1]
    print(f"\nbound: 3 x {args.model_time:g} s + the provider's queue = {bound:.2f} s. The queue is the longest wait "
          f"{slots} slots of {args.model_time:g} s impose on these {n_llm} arrivals, whoever serves them: {queue:.2f} s "
          f"(were they even: {n_llm} x {args.model_time:g} s / {slots} - {args.window:g} s = {uniform:.2f} s).\n"
          f"model answers p99 {mine['llm_p99']:.2f} s: {'met' if mine['llm_p99'] < bound else 'NOT met'}")
    refused = mine["outcomes"]["told"] + mine["outcomes"]["lost"]
    print(f"every command answered: {'yes' if refused == 0 else f'no ({refused} not answered)'}; searches refused: "
          f"{mine['search'][3]}")
    if args.worst:
        stamps = runs[-1]["stamps"].model
        rows = sorted((s.settled_at - s.sent_at, s) for s in runs[-1]["sent"] if s.kind in MODEL_KINDS and s.settled_at)
        t0 = min(s.sent_at for s in runs[-1]["sent"])
        for took, s in rows[-args.worst:]:
            print(f"  slowest: {s.kind:7} {s.token:7} {s.member.user.username} {s.channel.name} sent {s.sent_at - t0:5.2f} s, model asked "
                  f"{stamps.get(s.token, float('nan')) - s.sent_at:5.2f} s later, answered after {took:5.2f} s")
    for s in runs[-1]["sent"]:
        if s.outcome != "answered":
            print("not answered:", s.kind, s.token, s.outcome, s.detail[:160])
    return 0 if refused == 0 and mine["llm_p99"] < bound else 1


async def parent(args: argparse.Namespace) -> int:
    work = Path(tempfile.mkdtemp(prefix="load-"))
    runs = []
    if args.baseline != "none":
        tree = baseline_tree(args.baseline, work)
        runs.append(await run_once(f"baseline ({args.baseline})", tree, args, work))
    runs.append(await run_once("this tree", ROOT, args, work))
    print(json.dumps({"work": str(work)}))
    return report(runs, args)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--baseline", default="main", help="git ref to measure first, or none")
    parser.add_argument("--members", type=int, default=40)
    parser.add_argument("--window", type=float, default=10.0, help="seconds over which the commands are sent")
    parser.add_argument("--model-time", type=float, default=0.5, help="seconds the fake model takes per answer")
    parser.add_argument("--provider-slots", type=int, default=4,
                        help="the provider's concurrency in this tree (LLM_MAX_CONCURRENCY for ollama), for the bound")
    parser.add_argument("--settle", type=float, default=180.0, help="seconds a command may take before it is lost")
    parser.add_argument("--seed", type=int, default=15)
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                        help="a setting for this tree's bot (not the baseline's), e.g. CHAT_CHANNEL_CONCURRENCY=1")
    parser.add_argument("--verbose", action="store_true", help="show the bots' logs")
    parser.add_argument("--worst", type=int, default=0, help="list the N slowest model answers")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--root", default=str(ROOT), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        sys.path.insert(0, args.root)  # the bot's code: this tree, or the baseline's
        asyncio.run(child())
        return 0
    sys.path.insert(0, str(ROOT))
    logging.basicConfig(level=logging.WARNING)
    return asyncio.run(parent(args))


if __name__ == "__main__":
    sys.exit(main())
