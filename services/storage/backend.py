"""The one choice of database: SQLite at DATABASE_PATH (one process), or PostgreSQL at DATABASE_URL.

`open_backend(settings)` opens and migrates it; a `Backend` then builds each store (one interface per
concern, two implementations) and the coordinator. main.py opens it once and passes it to the Bot,
which builds its stores from it; main closes it last.

Adding a store: its interface beside the concern, one module in services/storage/sqlite and one in
services/storage/postgres, a factory method here in both classes, a migration in each migrations
folder, and its tests on the `backend` fixture (tests/conftest.py), which runs them on both.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import socket
import time
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from services.chat.memory import ConversationStore
from services.chat.profiles import ChatProfileStore
from services.health.history import HealthHistory
from services.limits.quotas import QuotaStore
from services.llm.usage import UsageStore
from services.reminders.store import ReminderStore
from services.shards import Shards
from services.storage.cache import Cache
from services.storage.coordination import Coordinator, LocalCoordinator
from services.storage.db import Database, StorageError
from services.storage.health import HealthStore
from services.storage.lock import ProcessLock
from services.storage.postgres.cache import PostgresCache
from services.storage.postgres.conversations import PostgresConversationStore
from services.storage.postgres.coordination import PgCoordinator
from services.storage.postgres.database import PgDatabase
from services.storage.postgres.health import PostgresHealthStore
from services.storage.postgres.history import PostgresHealthHistory
from services.storage.postgres.optouts import PostgresVoiceOptOutStore
from services.storage.postgres.profiles import PostgresChatProfileStore
from services.storage.postgres.quotas import PostgresQuotaStore
from services.storage.postgres.reminders import PostgresReminderStore
from services.storage.postgres.usage import PostgresUsageStore
from services.storage.postgres.voice_settings import PostgresVoiceSettingsStore
from services.storage.sqlite.cache import SqliteCache
from services.storage.sqlite.conversations import SqliteConversationStore
from services.storage.sqlite.health import SqliteHealthStore
from services.storage.sqlite.history import SqliteHealthHistory
from services.storage.sqlite.optouts import SqliteVoiceOptOutStore
from services.storage.sqlite.profiles import SqliteChatProfileStore
from services.storage.sqlite.quotas import SqliteQuotaStore
from services.storage.sqlite.reminders import SqliteReminderStore
from services.storage.sqlite.usage import SqliteUsageStore
from services.storage.sqlite.voice_settings import SqliteVoiceSettingsStore
from services.voice.optouts import VoiceOptOutStore
from services.voice.settings_store import GuildVoiceSettings, VoiceSettingsStore

if TYPE_CHECKING:
    from config.settings import ModelRef, Settings

Clock = Callable[[], float]
PROBE_NAMESPACE = "health:probe"


def process_name(home: Shards) -> str:
    return f"{socket.gethostname()}:{os.getpid()} ({home.describe()})"


class Backend(ABC):
    """Builds the stores of one database; the stores share its connection (or pool)."""

    kind: str  # "sqlite" or "postgres"
    shared: bool  # several processes may use it at once

    @property
    @abstractmethod
    def description(self) -> str:
        """What /health and the logs say about it (no password)."""

    @abstractmethod
    def cache(self, *, max_entries: int = 100_000, purge_interval: float = 300.0, clock: Clock = time.time) -> Cache: ...

    @abstractmethod
    def health(self, *, clock: Clock = time.time) -> HealthStore: ...

    @abstractmethod
    def health_history(self) -> HealthHistory: ...

    @abstractmethod
    def usage(self, *, clock: Clock = time.time) -> UsageStore: ...

    @abstractmethod
    def reminders(self, *, clock: Clock = time.time) -> ReminderStore: ...

    @abstractmethod
    def conversations(self, *, clock: Clock = time.time) -> ConversationStore: ...

    @abstractmethod
    def voice_settings(self, defaults: GuildVoiceSettings, *, clock: Clock = time.time) -> VoiceSettingsStore: ...

    @abstractmethod
    def voice_optouts(self, *, clock: Clock = time.time) -> VoiceOptOutStore: ...

    @abstractmethod
    def quotas(self, *, clock: Clock = time.time) -> QuotaStore: ...

    @abstractmethod
    def chat_profiles(self, *, default_persona: str, default_chain: Sequence[ModelRef], providers: Sequence[str],
                      clock: Clock = time.time) -> ChatProfileStore: ...

    @abstractmethod
    def coordinator(self, home: Shards, *, interval: float = 2.0) -> Coordinator: ...

    @abstractmethod
    async def start(self) -> None:
        """Start hearing the other processes (stores built so far); nothing to do for one process."""

    @abstractmethod
    async def size_bytes(self) -> int: ...

    @abstractmethod
    async def check(self) -> None:
        """A real write and read-back in one transaction (removed again); raises StorageError or a
        driver error when the database cannot take a write right now."""

    @abstractmethod
    async def close(self) -> None: ...


class SqliteBackend(Backend):
    kind = "sqlite"
    shared = False

    def __init__(self, db: Database, lock: ProcessLock | None = None) -> None:
        self.db = db
        self._lock = lock

    @property
    def description(self) -> str:
        return f"SQLite {self.db.path}"

    def cache(self, *, max_entries: int = 100_000, purge_interval: float = 300.0, clock: Clock = time.time) -> Cache:
        return SqliteCache(self.db, max_entries=max_entries, purge_interval=purge_interval, clock=clock)

    def health(self, *, clock: Clock = time.time) -> HealthStore:
        return SqliteHealthStore(self.db, clock=clock)

    def health_history(self) -> HealthHistory:
        return SqliteHealthHistory(self.db)

    def usage(self, *, clock: Clock = time.time) -> UsageStore:
        return SqliteUsageStore(self.db, clock=clock)

    def reminders(self, *, clock: Clock = time.time) -> ReminderStore:
        return SqliteReminderStore(self.db, clock=clock)

    def conversations(self, *, clock: Clock = time.time) -> ConversationStore:
        return SqliteConversationStore(self.db, clock=clock)

    def voice_settings(self, defaults: GuildVoiceSettings, *, clock: Clock = time.time) -> VoiceSettingsStore:
        return SqliteVoiceSettingsStore(self.db, defaults, clock=clock)

    def voice_optouts(self, *, clock: Clock = time.time) -> VoiceOptOutStore:
        return SqliteVoiceOptOutStore(self.db, clock=clock)

    def quotas(self, *, clock: Clock = time.time) -> QuotaStore:
        return SqliteQuotaStore(self.db, clock=clock)

    def chat_profiles(self, *, default_persona: str, default_chain: Sequence[ModelRef], providers: Sequence[str],
                      clock: Clock = time.time) -> ChatProfileStore:
        return SqliteChatProfileStore(self.db, default_persona=default_persona, default_chain=default_chain,
                                      providers=providers, clock=clock)

    def coordinator(self, home: Shards, *, interval: float = 2.0) -> Coordinator:
        return LocalCoordinator(home, process_name(home))

    async def start(self) -> None:
        return None

    async def size_bytes(self) -> int:
        return await self.db.size_bytes()

    async def check(self) -> None:
        # BEGIN IMMEDIATE takes the write lock, so a database locked by another process or a full
        # disk shows here rather than in the middle of a user's command.
        token, now = secrets.token_hex(8), time.time()
        async with self.db.transaction() as conn:
            await conn.execute(
                "INSERT INTO cache (namespace, key, value, created_at, expires_at) VALUES (?, 'write-read', ?, ?, ?) "
                "ON CONFLICT (namespace, key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at",
                (PROBE_NAMESPACE, json.dumps(token), now, now + 60))
            cursor = await conn.execute("SELECT value FROM cache WHERE namespace = ? AND key = 'write-read'",
                                        (PROBE_NAMESPACE,))
            row = await cursor.fetchone()
            await conn.execute("DELETE FROM cache WHERE namespace = ?", (PROBE_NAMESPACE,))
        _check_read_back(row[0] if row else None, token)

    async def close(self) -> None:
        try:
            await self.db.close()
        finally:
            if self._lock is not None:
                self._lock.release()


class PostgresBackend(Backend):
    kind = "postgres"
    shared = True

    def __init__(self, db: PgDatabase) -> None:
        self.db = db
        self._startable: list[object] = []

    @property
    def description(self) -> str:
        return f"PostgreSQL {self.db.where}"

    def _keep(self, store: object) -> object:
        self._startable.append(store)
        return store

    def cache(self, *, max_entries: int = 100_000, purge_interval: float = 300.0, clock: Clock = time.time) -> Cache:
        return PostgresCache(self.db, max_entries=max_entries, purge_interval=purge_interval, clock=clock)

    def health(self, *, clock: Clock = time.time) -> HealthStore:
        store = PostgresHealthStore(self.db, clock=clock)
        self._keep(store)
        return store

    def health_history(self) -> HealthHistory:
        return PostgresHealthHistory(self.db)

    def usage(self, *, clock: Clock = time.time) -> UsageStore:
        return PostgresUsageStore(self.db, clock=clock)

    def reminders(self, *, clock: Clock = time.time) -> ReminderStore:
        store = PostgresReminderStore(self.db, clock=clock)
        self._keep(store)
        return store

    def conversations(self, *, clock: Clock = time.time) -> ConversationStore:
        return PostgresConversationStore(self.db, clock=clock)

    def voice_settings(self, defaults: GuildVoiceSettings, *, clock: Clock = time.time) -> VoiceSettingsStore:
        return PostgresVoiceSettingsStore(self.db, defaults, clock=clock)

    def voice_optouts(self, *, clock: Clock = time.time) -> VoiceOptOutStore:
        return PostgresVoiceOptOutStore(self.db, clock=clock)

    def quotas(self, *, clock: Clock = time.time) -> QuotaStore:
        return PostgresQuotaStore(self.db, clock=clock)

    def chat_profiles(self, *, default_persona: str, default_chain: Sequence[ModelRef], providers: Sequence[str],
                      clock: Clock = time.time) -> ChatProfileStore:
        return PostgresChatProfileStore(self.db, default_persona=default_persona, default_chain=default_chain,
                                        providers=providers, clock=clock)

    def coordinator(self, home: Shards, *, interval: float = 2.0) -> Coordinator:
        return PgCoordinator(self.db, home, process_name(home), interval=interval)

    async def start(self) -> None:
        stores, self._startable = self._startable, []
        for store in stores:
            await store.start()  # type: ignore[attr-defined]

    async def size_bytes(self) -> int:
        return await self.db.size_bytes()

    async def check(self) -> None:
        token, now = secrets.token_hex(8), time.time()
        async with self.db.transaction() as conn:
            await conn.execute(
                "INSERT INTO cache (namespace, key, value, created_at, expires_at) "
                "VALUES ($1, 'write-read', $2, $3, $4) ON CONFLICT (namespace, key) DO UPDATE "
                "SET value = excluded.value, expires_at = excluded.expires_at",
                PROBE_NAMESPACE, json.dumps(token), now, now + 60)
            value = await conn.fetchval("SELECT value FROM cache WHERE namespace = $1 AND key = 'write-read'",
                                        PROBE_NAMESPACE)
            await conn.execute("DELETE FROM cache WHERE namespace = $1", PROBE_NAMESPACE)
        _check_read_back(value, token)

    async def close(self) -> None:
        await self.db.close()


class ReadBackMismatch(StorageError):
    """The database returned something other than what was just written."""


def _check_read_back(value: object, token: str) -> None:
    if value is None or json.loads(str(value)) != token:
        raise ReadBackMismatch("read back something other than what was just written")


@contextlib.asynccontextmanager
async def open_backend(settings: Settings, *, exclusive: bool = True) -> AsyncIterator[Backend]:
    """PostgreSQL when DATABASE_URL is set, else SQLite at DATABASE_PATH, migrated; closed on exit.

    `exclusive` (main.py): a SQLite file is locked for this process's lifetime, so a second bot
    process on it refuses to start. Tests that open one file twice in a process pass False.
    """
    backend: Backend
    if settings.database_url:
        backend = PostgresBackend(await PgDatabase.open(settings.database_url, max_size=settings.database_pool_size))
    else:
        path = Path(settings.database_path)
        lock = ProcessLock(path).acquire() if exclusive and settings.database_path != ":memory:" else None
        try:
            backend = SqliteBackend(await Database.open(path), lock)
        except BaseException:
            if lock is not None:
                lock.release()
            raise
    try:
        yield backend
    finally:
        await backend.close()
