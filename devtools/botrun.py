"""The real Bot started the way main.py starts it, for tests and benchmarks.

`RunningBot.start(settings)` routes discord.py (`route_discord`), opens a database backend and an HTTP
session it owns, builds the bot on them and starts it; `stop()` closes the bot, then the session and
the database, in that order, as main.py's `async with` blocks do. Unlike main.py it does not lock a
SQLite file for the process (a test may open the same file beside the bot).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass

import aiohttp

from bot import EXTENSIONS, Bot
from config.settings import Settings
from discord_ui.routing import route_discord
from services.storage.backend import Backend, open_backend


@dataclass
class RunningBot:
    bot: Bot
    task: asyncio.Task[None]
    session: aiohttp.ClientSession
    backend: Backend
    _opened: AbstractAsyncContextManager[Backend]

    @classmethod
    async def start(cls, settings: Settings, *, extensions: Sequence[str] = EXTENSIONS, sync_commands: bool = True,
                    wait_ready: bool = True, timeout: float = 15.0) -> RunningBot:
        """Start and (unless wait_ready=False) wait for on_ready; what stopped a bot that died is raised."""
        route_discord(settings)
        opened = open_backend(settings, exclusive=False)
        backend = await opened.__aenter__()
        session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=settings.api_request_timeout))
        try:
            bot = Bot(settings, session, backend, extensions=extensions, sync_commands=sync_commands)
        except BaseException:
            await session.close()
            await opened.__aexit__(None, None, None)
            raise
        bot._connection.guild_ready_timeout = 0.1  # discord.py waits this long after the last GUILD_CREATE
        ready = asyncio.Event()

        async def on_ready() -> None:
            ready.set()

        bot.add_listener(on_ready, "on_ready")
        running = cls(bot, asyncio.create_task(bot.start(settings.discord_token), name="bot"), session, backend,
                      opened)
        if wait_ready:
            waiter = asyncio.ensure_future(ready.wait())
            done, _ = await asyncio.wait({waiter, running.task}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
            waiter.cancel()
            if running.task in done:
                await running.stop()  # raises what stopped the bot
                raise AssertionError("the bot stopped before it was ready")
            if not done:
                await running.stop()
                raise AssertionError(f"the bot was not ready after {timeout:g}s")
        return running

    async def stop(self) -> None:
        """Close the bot and wait for its task (raising what it raised), then close the session and database."""
        try:
            await self.bot.close()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(self.task, 10)
        finally:
            await self.session.close()
            await self._opened.__aexit__(None, None, None)
