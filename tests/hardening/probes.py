"""Measurements shared by the load and fault tests: event-loop lag, the bot's tasks, live objects."""

from __future__ import annotations

import asyncio
import gc
import statistics
import sys
import time
from collections import Counter
from types import ModuleType

PROJECT_PREFIXES = ("cogs.", "services.", "bot")


class LagProbe:
    """Sleeps `interval` again and again in the loop under test and records how late it wakes up."""

    def __init__(self, interval: float = 0.01) -> None:
        self.interval = interval
        self.lags: list[float] = []
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while True:
            start = time.perf_counter()
            await asyncio.sleep(self.interval)
            self.lags.append(time.perf_counter() - start - self.interval)

    def start(self) -> LagProbe:
        self._task = asyncio.create_task(self._run(), name="lag probe")
        return self

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    def percentile(self, q: float) -> float:
        if len(self.lags) < 2:
            return max(self.lags, default=0.0)
        return statistics.quantiles(self.lags, n=100, method="inclusive")[round(q) - 1]


def _origin(task: asyncio.Task[object]) -> str:
    coro = task.get_coro()
    code = getattr(coro, "cr_code", None) or getattr(coro, "gi_code", None) or getattr(coro, "ag_code", None)
    name = getattr(coro, "__qualname__", type(coro).__name__)
    module = ""
    frame = getattr(coro, "cr_frame", None)
    if frame is not None:
        module = frame.f_globals.get("__name__", "")
    return f"{module}:{name}" if code is not None else name


def bot_tasks() -> Counter[str]:
    """Live tasks started by the bot's own code or discord.py (not the emulator's or the fakes')."""
    found: Counter[str] = Counter()
    for task in asyncio.all_tasks():
        if task.done():
            continue
        origin = _origin(task)
        if origin.startswith(("tests.", "aiohttp.web")) or "lag probe" in task.get_name():
            continue
        found[origin] += 1
    return found


def project_objects() -> Counter[str]:
    """Live instances of the project's own classes, after a full collection."""
    gc.collect()
    modules: dict[str, ModuleType] = {n: m for n, m in sys.modules.items() if n.startswith(PROJECT_PREFIXES)}
    counts: Counter[str] = Counter()
    for obj in gc.get_objects():
        cls = type(obj)
        if cls.__module__ in modules:
            counts[f"{cls.__module__}.{cls.__qualname__}"] += 1
    return counts
