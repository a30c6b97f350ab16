"""The history-pruning loop the chat and reminder cogs share: a database error does not end it."""

from __future__ import annotations

import asyncio
import logging
import sqlite3

import pytest

from discord_ui.prune import pruning_loop


async def test_a_locked_database_is_logged_and_the_loop_runs_on(caplog: pytest.LogCaptureFixture) -> None:
    calls: list[int] = []
    ran = asyncio.Event()

    async def prune() -> int:
        calls.append(1)
        ran.set()
        if len(calls) == 1:
            raise sqlite3.OperationalError("database is locked")
        return 3

    loop = pruning_loop("finished reminders", 30, prune)
    assert loop.seconds == 86_400
    caplog.set_level(logging.INFO, logger="discord_ui.prune")
    loop.start()
    try:
        await asyncio.wait_for(ran.wait(), 5)
        await asyncio.sleep(0)
        assert loop.is_running() and not loop.failed()
        assert "Could not prune finished reminders" in caplog.text and "database is locked" in caplog.text
        await loop.coro()  # the next run
        assert "Pruned 3 finished reminders older than 30 days" in caplog.text
    finally:
        loop.cancel()
