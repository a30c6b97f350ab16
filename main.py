"""Entry point: settings, logging, one HTTP session, one database, the bot; clean shutdown."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import socket
import sqlite3
import sys
from pathlib import Path

import aiohttp
import discord

from config import rules
from config.environment import EnvFileError, read_environment
from config.log_setup import setup_logging
from config.report import check_report
from config.settings import Settings, SettingsError, load_settings

log = logging.getLogger("main")

EXIT_CONFIG = 2
EXIT_RUNTIME = 1


def print_check(settings: Settings) -> None:
    sys.stdout.write(check_report(settings, rules.warnings(settings)))
    sys.stdout.flush()


def _print_check_to_pipe(settings: Settings) -> int:
    """`--check | head` closes the pipe early: stop writing quietly instead of a BrokenPipe traceback."""
    try:
        print_check(settings)
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # Python flushes stdout again at exit
    return 0


def _config_error(*messages: object) -> int:
    for message in messages:
        print(f"Configuration error: {message}", file=sys.stderr)
    return EXIT_CONFIG


def _discord_unreachable(exc: aiohttp.ClientConnectionError, settings: Settings) -> str:
    """One line for a Discord that cannot be reached at start (no network yet, as at boot, or no DNS)."""
    where = (f"{exc.host}:{exc.port}" if isinstance(exc, aiohttp.ClientConnectorError)
             else settings.discord_api_base_url or "discord.com")
    cause = getattr(exc, "os_error", None) or exc
    if isinstance(cause, socket.gaierror):
        reason = f"DNS lookup failed ({cause.strerror})"
    elif isinstance(cause, ConnectionRefusedError):
        reason = "connection refused"
    else:
        reason = getattr(cause, "strerror", None) or str(cause) or type(cause).__name__
    return (f"Cannot reach Discord at {where}: {reason}. Check the network; start the bot again "
            "(or let systemd or Docker restart it) once it is up.")


async def run(settings: Settings) -> None:
    """Open the database and the HTTP session, run the bot on them, and close each in reverse order,
    also when building the bot fails (discord.py's advanced start-up shape)."""
    from bot import Bot  # discord and the cogs load only when actually running
    from discord_ui.routing import route_discord
    from services.storage.backend import open_backend

    route_discord(settings)
    timeout = aiohttp.ClientTimeout(total=settings.api_request_timeout)
    async with open_backend(settings) as backend, aiohttp.ClientSession(timeout=timeout) as session:
        log.info("Database: %s", backend.description)
        async with Bot(settings, session, backend) as bot:
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
    parser.add_argument("--env-file", type=Path, default=None, help="settings file (default: ./.env, if there is one)")
    args = parser.parse_args(argv)

    try:
        settings = load_settings(read_environment(args.env_file, os.environ))
    except EnvFileError as exc:
        return _config_error(exc)
    except SettingsError as exc:
        return _config_error(*exc.errors)
    if args.check:
        return _print_check_to_pipe(settings)

    problem = None if settings.database_url else rules.create_database_folder(settings.database_path)
    if problem:
        return _config_error(f"DATABASE_PATH {problem}")
    try:
        setup_logging(settings)
    except OSError as exc:
        return _config_error(f"LOG_FILE_ENABLED=true, but the log file cannot be opened: {exc}")
    for warning in rules.warnings(settings):
        log.warning("%s", warning)
    from services.storage import StorageError

    try:
        asyncio.run(run(settings))
    except StorageError as exc:
        log.error("%s", exc)
        return EXIT_RUNTIME
    except sqlite3.Error as exc:
        log.error("DATABASE_PATH %s cannot be opened as a SQLite database: %s", settings.database_path, exc)
        return EXIT_RUNTIME
    except aiohttp.ClientConnectionError as exc:
        log.error("%s", _discord_unreachable(exc, settings))
        return EXIT_RUNTIME
    except discord.LoginFailure:
        log.error("Discord rejected DISCORD_TOKEN (401). Copy a fresh token from the developer portal's Bot tab.")
        return EXIT_RUNTIME
    except discord.PrivilegedIntentsRequired:
        if settings.discord_members_intent:
            log.error("Enable the Message Content intent and the Server Members intent for this bot in the developer "
                      "portal (Bot tab, Privileged Gateway Intents), or set DISCORD_MEMBERS_INTENT=false, then start "
                      "again.")
        else:
            log.error("Enable the Message Content intent for this bot in the developer portal (Bot tab, "
                      "Privileged Gateway Intents), then start again.")
        return EXIT_RUNTIME
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
