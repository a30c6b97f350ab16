"""Waiting on conditions: every emulator change notifies, and waiters also re-check every few
milliseconds, because some conditions depend on the bot's side (its cache, its database), which
cannot notify the emulator. Either way the wait ends as soon as the condition holds."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")
RECHECK = 0.01  # seconds between re-checks when nothing in the emulator changed


class Notifier:
    """One generation event per change; cheaper and simpler than a Condition shared by all waiters."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def notify(self) -> None:
        self._event.set()
        self._event = asyncio.Event()

    async def next_change(self, timeout: float) -> None:
        """Return at the next emulator change, or after `timeout` seconds, whichever comes first."""
        try:
            await asyncio.wait_for(self._event.wait(), timeout)
        except TimeoutError:
            pass

    async def wait_for(self, condition: Callable[[], T], timeout: float, describe: Callable[[], str] | str) -> T:
        """Return the first truthy value of `condition()`; on timeout raise AssertionError saying what was awaited."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            value = condition()
            if value:
                return value
            remaining = deadline - loop.time()
            if remaining <= 0:
                text = describe() if callable(describe) else describe
                raise AssertionError(f"timed out after {timeout:g}s waiting for {text}")
            event = self._event
            try:
                await asyncio.wait_for(event.wait(), min(remaining, RECHECK))
            except TimeoutError:
                continue
