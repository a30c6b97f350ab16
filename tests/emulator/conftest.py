"""Fixtures for the emulator's own tests: a plain discord.Client against it, and raw HTTP calls."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import discord
import pytest

from devtools.discord_emulator import DiscordEmulator
from discord_ui.routing import route_discord_to


class ReadyCounting:
    """Counts on_ready, so tests can wait for (re-)readiness; skips discord.py's identify pacing."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.ready_count = 0
        self.ready = asyncio.Event()

    async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
        """discord.py waits 5 s before every re-IDENTIFY (Discord's identify rate limit); not here."""

    def dispatch(self, event: str, /, *args: Any, **kwargs: Any) -> None:
        if event == "ready":
            self.ready_count += 1
            self.ready.set()
        super().dispatch(event, *args, **kwargs)  # type: ignore[misc]


class EmuClient(ReadyCounting, discord.Client):
    """A plain discord.Client (one shard; `shard_id=`/`shard_count=` make it one shard of several)."""


class EmuShardedClient(ReadyCounting, discord.AutoShardedClient):
    """discord.py's AutoShardedClient: one gateway connection per shard, on_ready once all are ready."""


ClientFactory = Callable[..., Awaitable[EmuClient]]


@pytest.fixture
async def client_factory(emulator: DiscordEmulator) -> AsyncIterator[ClientFactory]:
    """`client = await client_factory(intents=..., setup=fn)`: a started, ready discord.Client.

    `setup(client)` runs before login (register events, build a CommandTree). `emu` picks another
    emulator than the fixture's. `sharded=True` makes an AutoShardedClient (`shard_ids=`, `shard_count=`
    go to it); `shard_id=0, shard_count=2` make a plain Client one shard of two. Clients are closed
    after the test and their tasks awaited.
    """
    running: list[tuple[EmuClient, asyncio.Task[None]]] = []

    async def start(*, intents: discord.Intents | None = None, setup: Callable[[discord.Client], Any] | None = None,
                    emu: DiscordEmulator | None = None, wait_ready: bool = True, token: str | None = None,
                    sharded: bool = False, **options: Any) -> EmuClient:
        emu = emu or emulator
        route_discord_to(emu.api_url, emu.gateway_url)
        if intents is None:
            intents = discord.Intents.default()
            intents.message_content = True
        client = (EmuShardedClient if sharded else EmuClient)(intents=intents, **options)
        client._connection.guild_ready_timeout = 0.1
        if setup is not None:
            result = setup(client)
            if asyncio.iscoroutine(result):
                await result
        task = asyncio.create_task(client.start(token or emu.token))
        running.append((client, task))
        if wait_ready:
            waiter = asyncio.ensure_future(client.ready.wait())
            done, _ = await asyncio.wait({waiter, task}, timeout=10, return_when=asyncio.FIRST_COMPLETED)
            waiter.cancel()
            if task in done:
                task.result()
                raise AssertionError("the client stopped before it was ready")
            assert done, "the client was not ready after 10s"
        return client

    yield start
    for client, task in reversed(running):
        await client.close()
        await asyncio.wait_for(task, 10)


@pytest.fixture
async def raw(emulator: DiscordEmulator) -> AsyncIterator[Callable[..., Awaitable[tuple[int, Any, aiohttp.ClientResponse]]]]:
    """`status, body, response = await raw("POST", "/channels/1/messages", json={...})` with the bot token."""
    async with aiohttp.ClientSession() as session:

        async def call(method: str, path: str, *, auth: bool = True, **kwargs: Any) -> tuple[int, Any, aiohttp.ClientResponse]:
            headers = {"Authorization": f"Bot {emulator.token}"} if auth else {}
            async with session.request(method, emulator.api_url + path, headers=headers, **kwargs) as response:
                text = await response.text()
                body = await response.json(content_type=None) if text else None
                return response.status, body, response

        yield call
