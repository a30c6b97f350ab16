"""`python -m devtools.playground`: chat with the real bot in a terminal (see __init__.py)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
import tempfile
from pathlib import Path

from devtools.discord_emulator.console import run_console
from devtools.playground import Playground


async def play(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory(prefix="bot-playground-") as folder:
        print("Starting the local Discord, the bot and a model (a few seconds)...", flush=True)
        playground = Playground(Path(folder), sys.stdout, tty=sys.stdout.isatty(), ollama_host=args.ollama_host,
                                ollama_model=args.ollama_model)
        try:
            await playground.start()
        except AssertionError as exc:  # the bot did not come up: say why, with its own words
            print(f"The bot did not start: {exc}", file=sys.stderr)
            await playground.stop()
            return 1
        loop = asyncio.get_running_loop()
        session = asyncio.ensure_future(run_console(playground.emu, playground.console, tty=playground.tty,
                                                    quiet_at_end=playground.settle + 1))
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, session.cancel)
        try:
            with contextlib.suppress(asyncio.CancelledError):
                await session
        finally:
            await playground.stop()
        print("Bye.", flush=True)
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(prog="scripts/playground.sh", description=__doc__)
    parser.add_argument("--ollama-host", help="Ollama to use if it answers (default: OLLAMA_HOST, or localhost)")
    parser.add_argument("--ollama-model", help="its model (default: OLLAMA_MODEL, or its smallest model)")
    return asyncio.run(play(parser.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
