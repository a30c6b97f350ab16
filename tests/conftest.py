"""Shared fixtures: the Discord emulator, settings pointing at it, and the real bot started against it.

Fixtures specific to one area live in that area's own conftest.py.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot import EXTENSIONS, Bot
from config.settings import Settings, load_settings
from devtools.botrun import RunningBot
from devtools.discord_emulator import DiscordEmulator
from devtools.discord_emulator.certs import TestCertificates, make_certificates
from devtools.discord_emulator.process import BotProcess
from devtools.fakes.llm_server import FakeLLMServer
from devtools.postgres import PostgresCluster
from devtools.testenv import bot_test_env, env_value
from services.storage import Database
from services.storage.backend import Backend, PostgresBackend, SqliteBackend
from services.storage.postgres.database import PgDatabase

BACKENDS = ("sqlite", "postgres")


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    """A fresh, migrated SQLite database in the test's own folder (tests of SQLite itself, and of
    services that only need some store)."""
    database = await Database.open(tmp_path / "bot.db")
    try:
        yield database
    finally:
        await database.close()


class Backends:
    """Opens backends of one kind on one database (one SQLite file, or one PostgreSQL database), so a
    test can close one and open another on the same data, as a restarted bot or a second process does."""

    def __init__(self, kind: str, *, path: Path | None = None, dsn: str | None = None) -> None:
        self.kind = kind
        self.path = path
        self.dsn = dsn
        self._open: list[Backend] = []

    async def open(self) -> Backend:
        backend: Backend
        if self.kind == "sqlite":
            assert self.path is not None
            backend = SqliteBackend(await Database.open(self.path))
        else:
            assert self.dsn is not None
            backend = PostgresBackend(await PgDatabase.open(self.dsn, min_size=1, max_size=4))
        self._open.append(backend)
        return backend

    async def close(self) -> None:
        for backend in reversed(self._open):
            await backend.close()


async def column(backend: Backend, sql: str) -> list[Any]:
    """The first column of a parameterless query on either backend (tests that look at the rows)."""
    db: Any = backend.db  # type: ignore[attr-defined]
    rows = await (db.fetchall(sql) if backend.kind == "sqlite" else db.fetch(sql))
    return [r[0] for r in rows]


@pytest.fixture(params=BACKENDS)
async def backends(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backends]:
    """One test, run once on SQLite and once on PostgreSQL (a fresh database of the session's cluster):
    the store interfaces promise the same behaviour on both. `await backends.open()` for each
    process or restart the test plays; most tests need one: the `backend` fixture."""
    if request.param == "sqlite":
        found = Backends("sqlite", path=tmp_path / "bot.db")
        yield found
        await found.close()
        return
    cluster: PostgresCluster = request.getfixturevalue("postgres")
    async with cluster.database() as dsn:
        found = Backends("postgres", dsn=dsn)
        try:
            yield found
        finally:
            await found.close()


@pytest.fixture
async def backend(backends: Backends) -> Backend:
    """A fresh, migrated database on each backend in turn (see `backends`); build stores from it:
    `backend.cache(clock=clock)`, `backend.reminders()`..."""
    return await backends.open()


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresCluster]:
    """One throwaway PostgreSQL cluster (Debian's server, initdb + pg_ctl, ~1 s) for the whole run,
    started on first use, stopped and deleted at the end. Tests take a database each: `postgres_dsn`."""
    with PostgresCluster() as cluster:
        yield cluster


@pytest.fixture
async def postgres_dsn(postgres: PostgresCluster) -> AsyncIterator[str]:
    """A fresh, empty database on the session's cluster (`postgresql://user:pw@127.0.0.1:port/db`),
    dropped after the test, so tests never see each other's tables."""
    async with postgres.database() as dsn:
        yield dsn


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


@pytest.fixture
async def llm() -> AsyncIterator[FakeLLMServer]:
    """A fake model server speaking Ollama's NDJSON and the OpenAI SSE dialect."""
    async with FakeLLMServer() as server:
        yield server


@pytest.fixture(scope="session")
def piper_voice() -> Any:
    """The bundled Piper voice, loaded once per run (~2 s): real offline speech for voice tests."""
    from devtools.fakes.engines import load_piper

    return load_piper()


@pytest.fixture(scope="session")
def whisper_model() -> Any:
    """The bundled Whisper tiny.en, loaded once per run: real offline transcription for voice tests."""
    from devtools.fakes.engines import load_whisper

    return load_whisper()


@pytest.fixture(scope="session")
def discord_certificates(tmp_path_factory: pytest.TempPathFactory) -> TestCertificates:
    """One throwaway CA and 127.0.0.1 certificate for the whole run (the voice server's TLS)."""
    return make_certificates(tmp_path_factory.mktemp("discord-tls"))


@pytest.fixture
async def emulator(request: pytest.FixtureRequest,
                   discord_certificates: TestCertificates) -> AsyncIterator[DiscordEmulator]:
    """A started Discord emulator with the default world; checked for problems and leaks after the test.

    Indirect parametrization passes DiscordEmulator arguments, e.g. a world with one guild per shard:
    `@pytest.mark.parametrize("emulator", [{"world": partial(default_world, shards=2)}], indirect=True)`.
    """
    emu = DiscordEmulator(certificates=discord_certificates, **getattr(request, "param", {}))
    await emu.start()
    try:
        yield emu
    finally:
        await emu.stop()
    emu.check()
    assert emu.gateway.open_sockets == 0, "a gateway websocket outlived the emulator"
    assert emu.voice is None, "the voice server outlived the emulator"


@pytest.fixture
def make_settings(emulator: DiscordEmulator, tmp_path: Path) -> Callable[..., Settings]:
    """`make_settings(chat_channel_ids=[1, 2], LOG_LEVEL="INFO")` -> Settings pointing at the emulator.

    Names are setting names in any case; values are Python values or strings. Never reads .env.
    """

    def make(**overrides: Any) -> Settings:
        env = {**bot_test_env(tmp_path / "bot.db"), **emulator.bot_env()}
        env.update({name.upper(): env_value(value) for name, value in overrides.items()})
        return load_settings(env)

    return make


BotFactory = Callable[..., Awaitable[Bot]]


@pytest.fixture
async def bot_factory(emulator: DiscordEmulator, make_settings: Callable[..., Settings]) -> AsyncIterator[BotFactory]:
    """Start the project's real Bot against the emulator: `bot = await bot_factory(extensions=[...], **settings)`.

    Started as main.py starts it (devtools.botrun). Waits for on_ready unless wait_ready=False; every
    bot is closed after the test and its task awaited, so a crash inside it fails the test.
    """
    running: list[RunningBot] = []

    async def start(*, extensions: Sequence[str] = EXTENSIONS, sync_commands: bool = True,
                    settings: Settings | None = None, wait_ready: bool = True, timeout: float = 15.0,
                    **overrides: Any) -> Bot:
        started = await RunningBot.start(settings or make_settings(**overrides), extensions=extensions,
                                         sync_commands=sync_commands, wait_ready=wait_ready, timeout=timeout)
        running.append(started)
        return started.bot

    yield start
    for started in reversed(running):
        await started.stop()


@pytest.fixture
async def bot(request: pytest.FixtureRequest, bot_factory: BotFactory) -> Bot:
    """The real bot with every cog, ready. Parametrize indirectly to pass bot_factory arguments:
    `@pytest.mark.parametrize("bot", [{"extensions": ["cogs.admin"]}], indirect=True)`."""
    return await bot_factory(**getattr(request, "param", {}))


BotProcessFactory = Callable[..., Awaitable[BotProcess]]


@pytest.fixture
async def bot_process(emulator: DiscordEmulator, tmp_path: Path) -> AsyncIterator[BotProcessFactory]:
    """Start `python main.py` against the emulator: `proc = await bot_process(**settings); await proc.wait_ready()`.

    The database is tmp_path/bot.db unless overridden, so two processes in one test share it (restarts).
    Processes still running at the end are killed.
    """
    started: list[BotProcess] = []

    async def start(**overrides: Any) -> BotProcess:
        env = {**bot_test_env(tmp_path / "bot.db"), **emulator.bot_env(), "LOG_LEVEL": "INFO"}
        env.update({name.upper(): env_value(value) for name, value in overrides.items()})
        process = await BotProcess.start(emulator, env, cwd=tmp_path)
        started.append(process)
        return process

    yield start
    for process in started:
        await process.stop()
