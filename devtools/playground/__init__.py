"""The playground: the local Discord, the real bot (`python main.py`), a model and an offline internet,
and a terminal chat to talk with the bot as a member. No token, no internet, no model server needed.

The model is a local Ollama when one answers on OLLAMA_HOST (environment or .env; default
http://localhost:11434) and has a model, else the built-in echo model (devtools/fakes/echo_model.py).
`scripts/playground.sh` sets up and runs `python -m devtools.playground`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import aiohttp

from config.environment import read_environment
from devtools.discord_emulator import DiscordEmulator
from devtools.discord_emulator.console import Console, Example
from devtools.discord_emulator.process import BotProcess
from devtools.discord_emulator.render import LiveRenderer
from devtools.fakes.echo_model import ECHO_MODEL, echo_model
from devtools.fakes.llm_server import FakeLLMServer
from devtools.fakes.search_servers import FakeSearchServers
from devtools.playground import corpus
from devtools.testenv import CLOSED_PORT_URL

log = logging.getLogger(__name__)

DEFAULT_OLLAMA = "http://localhost:11434"

EXAMPLES = [
    Example("hello, who are you?", "chat: every message in #general is answered"),
    Example("#random @bot what is a haiku?", "mention the bot (here in #random, for this line only)"),
    Example("/chat prompt:tell me a joke", "a slash command; options as name:value"),
    Example("/wiki Python", "Wikipedia; the first option needs no name"),
    Example("/wiki Mercury", "a page with several meanings lists them"),
    Example("/ask what is Ollama?", "an answer from web and Wikipedia results, citing them"),
    Example("/search discord servers", "web search"),
    Example("/remind when:in 1 minute what:stretch", "a reminder, posted here when it is due"),
    Example("/reminders", "your pending reminders"),
    Example("/timezone zone:Europe/Paris", "the time zone your reminder times are read in"),
    Example("/health", "every service's state (alice owns the server)"),
    Example("#nsfw /urban yeet", "Urban Dictionary (NSFW channels and DMs only)"),
    Example("dm hi there", "a direct message to the bot"),
]


@dataclass(frozen=True)
class Model:
    host: str
    name: str
    echo: bool

    def describe(self) -> str:
        if self.echo:
            return "the built-in echo model (no Ollama with a model answered; it repeats what you say)"
        return f"Ollama's {self.name} at {self.host}"


async def find_ollama(host: str, wanted: str, timeout: float = 2.0) -> Model | None:
    """A running Ollama with a model: `wanted` if it has it, else its smallest model."""
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as session, \
                session.get(f"{host.rstrip('/')}/api/tags") as response:
            data = await response.json() if response.status == 200 else {}
    except (aiohttp.ClientError, TimeoutError, ValueError):
        return None
    models = [m for m in (data.get("models") or []) if isinstance(m, dict) and m.get("name")]
    if not models:
        return None
    names = [m["name"] for m in models]
    for name in (wanted, f"{wanted}:latest"):
        if name in names:
            return Model(host, name, echo=False)
    smallest = min(models, key=lambda m: m.get("size") or 0)
    return Model(host, smallest["name"], echo=False)


class Playground:
    """Everything the playground runs, started and stopped together; `console` takes the typed lines."""

    def __init__(self, workdir: Path, out: TextIO, *, tty: bool, ollama_host: str | None = None,
                 ollama_model: str | None = None, settle: float = 1.0) -> None:
        self.workdir = workdir
        self.out = out
        self.tty = tty
        self.settle = settle
        configured = read_environment(None, os.environ)  # OLLAMA_HOST / OLLAMA_MODEL as the user set them
        self.ollama_host = ollama_host or configured.get("OLLAMA_HOST") or DEFAULT_OLLAMA
        self.ollama_model = ollama_model or configured.get("OLLAMA_MODEL") or "llama3.2"
        self.emu = DiscordEmulator()
        self.search = FakeSearchServers()
        self.echo: FakeLLMServer | None = None
        self.model: Model | None = None
        self.bot: BotProcess | None = None
        self.console: Console | None = None
        self.renderer: LiveRenderer | None = None
        self._printer: asyncio.Task[None] | None = None

    def bot_env(self) -> dict[str, str]:
        assert self.model is not None
        return {
            **self.emu.bot_env(), **self.search.settings_env(),
            "DISCORD_GUILD_ID": str(self.emu.guild.id), "ADMIN_GUILD_IDS": str(self.emu.guild.id),  # alice: /health
            "DATABASE_PATH": str(self.workdir / "bot.db"), "LOG_LEVEL": "INFO", "LOG_FILE_ENABLED": "true",
            "OLLAMA_HOST": self.model.host, "OLLAMA_MODEL": self.model.name,
            "OPENROUTER_BASE_URL": CLOSED_PORT_URL,
            "WEB_SEARCH_ENGINE": "searxng", "WEB_SEARCH_RATE_LIMIT_DELAY": "0",
            "CHAT_CHANNEL_IDS": str(self.emu.channel("general").id), "CHAT_USER_COOLDOWN": "0",
            "CHAT_STREAM_EDIT_INTERVAL": "0.5", "HEALTH_PROBE_TIMEOUT": "5",
        }

    @property
    def log_file(self) -> Path:
        return self.workdir / "logs" / "bot.log"

    async def start(self) -> None:
        await self.emu.start()
        corpus.fill(self.search)
        await self.search.start()
        self.model = await find_ollama(self.ollama_host, self.ollama_model)
        if self.model is None:
            self.echo = await echo_model().start()
            self.model = Model(self.echo.url, ECHO_MODEL, echo=True)
        self.bot = await BotProcess.start(self.emu, self.bot_env(), cwd=self.workdir)
        await self.bot.wait_ready(timeout=60)
        await self.bot.wait_for_output(r"Connected as ", timeout=30)
        notes = (f"The model is {self.model.describe()}.\nOffline: /wiki, /ask and /search answer from a few built-in "
                 f"pages ({', '.join(corpus.TOPICS)}); /urban knows \"yeet\". The bot's log: {self.log_file}")
        self.console = Console(self.emu, self.out, examples=EXAMPLES, notes=notes)
        self.renderer = self.console.renderer = LiveRenderer(self.emu, self.out, tty=self.tty, settle=self.settle)
        self._printer = asyncio.create_task(self.renderer.run(), name="playground printer")

    async def stop(self) -> None:
        if self._printer is not None:
            self._printer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._printer
        if self.bot is not None:
            self.bot.terminate()
            with contextlib.suppress(AssertionError):
                await self.bot.wait(timeout=10)
            await self.bot.stop()
        if self.echo is not None:
            await self.echo.close()
        await self.search.close()
        await self.emu.stop()

    async def __aenter__(self) -> Playground:
        try:
            await self.start()
        except BaseException:
            await self.stop()
            raise
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.stop()
