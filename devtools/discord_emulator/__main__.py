"""`python -m devtools.discord_emulator [--port N] [--shards N]`: a standalone emulator to point a locally
run bot at (--shards N: one guild per shard, for bots run as several processes).

Prints the settings to use, then runs until Ctrl-C or SIGTERM (or the end of input with --console).
It serves the bot's login, command sync and gateway session; with --console you talk to the bot as the
default world's members (see console.py).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
from functools import partial

from devtools.discord_emulator.console import run_console
from devtools.discord_emulator.emulator import DEFAULT_TOKEN, DiscordEmulator
from devtools.discord_emulator.world import default_world


async def serve(host: str, port: int, token: str, console: bool, shards: int = 1) -> None:
    emu = DiscordEmulator(host=host, port=port, token=token, world=partial(default_world, shards=shards))
    await emu.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    print(f"Discord emulator listening on {emu.base_url}", flush=True)
    print("Point the bot at it with these settings (environment or .env):", flush=True)
    for name, value in emu.bot_env().items():
        print(f"{name}={value}", flush=True)
    for guild in emu.guilds:
        shard = f" on shard {(guild.id >> 22) % shards} of {shards}" if shards > 1 else ""
        print(f"Guild {guild.name} ({guild.id}){shard}; channels: "
              + ", ".join(f"#{c.name} ({c.id})" for c in guild.channels.values()), flush=True)
    waiters = [asyncio.ensure_future(stop.wait())]
    if console:
        waiters.append(asyncio.ensure_future(run_console(emu)))
    try:
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
        await emu.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description="Run the Discord emulator on its own.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 = any free port (printed)")
    parser.add_argument("--token", default=DEFAULT_TOKEN, help="the bot token it accepts")
    parser.add_argument("--shards", type=int, default=1, help="one guild per shard; /gateway/bot recommends this")
    parser.add_argument("--console", action="store_true", help="type messages and commands as guild members")
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args.host, args.port, args.token, args.console, max(1, args.shards)))


if __name__ == "__main__":
    main()
