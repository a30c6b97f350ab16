"""Entry point: settings, logging, one HTTP session, one database, the bot; clean shutdown."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from collections.abc import Mapping
from pathlib import Path

import aiohttp
import discord
from dotenv import dotenv_values

from config.log_setup import setup_logging
from config.settings import Settings, SettingsError, load_settings

log = logging.getLogger("main")

EXIT_CONFIG = 2
EXIT_RUNTIME = 1


def read_environment(env_file: Path, environ: Mapping[str, str]) -> dict[str, str]:
    """The .env file's values, overridden by the real environment."""
    file_values = {k: v for k, v in dotenv_values(env_file).items() if v is not None} if env_file.is_file() else {}
    return {**file_values, **environ}


def print_check(settings: Settings) -> None:
    print("Settings are valid. Effective values (secrets hidden):")
    for name, value in settings.public_items():
        print(f"  {name}={value}")


async def run(settings: Settings) -> None:
    """Open the database and the HTTP session, run the bot on them, and close each in reverse order,
    also when building the bot fails (discord.py's advanced start-up shape)."""
    from bot import Bot  # discord and the cogs load only when actually running
    from discord_ui.routing import route_discord
    from services.storage import Database

    route_discord(settings)
    timeout = aiohttp.ClientTimeout(total=settings.api_request_timeout)
    async with await Database.open(settings.database_path) as db, aiohttp.ClientSession(timeout=timeout) as session:
        async with Bot(settings, session, db) as bot:
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, lambda s=sig: _request_stop(bot, s))
            await bot.start(settings.discord_token)
    log.info("Shut down cleanly")


def _request_stop(bot: discord.Client, sig: signal.Signals) -> None:
    log.info("Received %s, shutting down", sig.name)
    asyncio.get_running_loop().create_task(bot.close())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Discord bot for local and hosted LLMs, voice, search and reminders.")
    parser.add_argument("--check", action="store_true", help="validate the settings, print them (secrets hidden), exit")
    parser.add_argument("--env-file", type=Path, default=Path(".env"), help="settings file (default: ./.env)")
    args = parser.parse_args(argv)

    try:
        settings = load_settings(read_environment(args.env_file, os.environ))
    except SettingsError as exc:
        print(f"Configuration error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    if args.check:
        print_check(settings)
        return 0

    setup_logging(settings)
    from services.storage import StorageError

    try:
        asyncio.run(run(settings))
    except StorageError as exc:
        log.error("%s", exc)
        return EXIT_RUNTIME
    except discord.LoginFailure:
        log.error("Discord rejected DISCORD_TOKEN (401). Copy a fresh token from the developer portal's Bot tab.")
        return EXIT_RUNTIME
    except discord.PrivilegedIntentsRequired:
        log.error("Enable the Message Content intent for this bot in the developer portal (Bot tab, "
                  "Privileged Gateway Intents), then start again.")
        return EXIT_RUNTIME
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
