"""PostgreSQL through an asyncpg pool: versioned migrations under an advisory lock, one listening
connection for LISTEN/NOTIFY, and every driver error turned into StorageError with its cause.

Migrations are services/storage/postgres/migrations/NNNN_name.sql, numbered like SQLite's (the same
loader). Each runs in its own transaction that first takes `pg_advisory_xact_lock(migrations)` and
re-reads the version, so processes started together migrate once; DDL is transactional, so a failed
migration leaves the previous version intact. A database newer than this bot is refused untouched.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import secrets
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import asyncpg

from services.redact import describe_url
from services.storage.db import Migration, StorageError, load_migrations
from services.storage.postgres import locks

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
DRIVER_ERRORS = (asyncpg.PostgresError, asyncpg.InterfaceError, asyncpg.InternalClientError, OSError, TimeoutError)
RECONNECT_DELAY = 1.0

NotifyCallback = Callable[[str], Awaitable[None] | None]


def process_token() -> str:
    """Who this process is, in claims and notifications: host, pid, and a random part (pids repeat)."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


@contextlib.contextmanager
def driver_errors(where: str) -> Iterator[None]:
    try:
        yield
    except DRIVER_ERRORS as exc:
        raise StorageError(f"PostgreSQL at {where}: {type(exc).__name__}: {exc}") from exc


def rows_changed(status: str) -> int:
    """asyncpg's command status ('UPDATE 3', 'INSERT 0 1') -> 3, 1."""
    last = status.rsplit(" ", 1)[-1]
    return int(last) if last.isdigit() else 0


class PgDatabase:
    """An asyncpg pool plus what every store needs: statements, transactions, batched deletes, notify."""

    def __init__(self, url: str, pool: asyncpg.Pool, *, token: str | None = None) -> None:
        self.url = url
        self.where = describe_url(url)
        self.token = token or process_token()
        self._pool = pool
        self._listen_conn: asyncpg.Connection | None = None
        self._listeners: dict[str, list[NotifyCallback]] = {}
        self._on_reconnect: list[Callable[[], Awaitable[None]]] = []
        self._reconnecting: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self.closed = False

    @classmethod
    async def open(cls, url: str, *, min_size: int = 1, max_size: int = 10, connect_timeout: float = 10.0,
                   migrations: Sequence[Migration] | None = None, target_version: int | None = None,
                   application_name: str = "discord-llm-bot") -> PgDatabase:
        """Connect, check, and migrate to the latest schema; StorageError with one line if impossible."""
        where = describe_url(url)
        try:
            pool = await asyncpg.create_pool(
                url, min_size=min_size, max_size=max_size, timeout=connect_timeout,
                server_settings={"application_name": application_name})
        except (asyncpg.InvalidPasswordError, asyncpg.InvalidAuthorizationSpecificationError) as exc:
            raise StorageError(f"DATABASE_URL: PostgreSQL at {where} refused the user and password ({exc})") from exc
        except asyncpg.InvalidCatalogNameError as exc:
            raise StorageError(f"DATABASE_URL: {exc} at {where}: create it first (createdb), "
                               "or name an existing database") from exc
        except DRIVER_ERRORS as exc:
            cause = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
            raise StorageError(f"DATABASE_URL: cannot connect to PostgreSQL at {where} ({cause})") from exc
        db = cls(url, pool)
        try:
            await db._migrate(list(migrations) if migrations is not None else load_migrations(MIGRATIONS_DIR),
                              target_version)
        except BaseException:
            await pool.close()
            raise
        return db

    # --- migrations --------------------------------------------------------------------------

    async def _migrate(self, migrations: list[Migration], target: int | None) -> None:
        latest = migrations[-1].version if migrations else 0
        target = latest if target is None else target
        async with self._pool.acquire() as conn:
            while True:
                with driver_errors(self.where):
                    applied = await self._apply_next(conn, migrations, latest, target)
                if applied is None:
                    return
                log.info("Applied PostgreSQL migration %s", applied.name)

    async def _apply_next(self, conn: asyncpg.Connection, migrations: list[Migration], latest: int,
                          target: int) -> Migration | None:
        """In one transaction under the migration lock: read the version, apply the next file, record it."""
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1, $2)", locks.PROJECT, locks.MIGRATIONS)
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, name text NOT NULL, "
                "applied_at timestamptz NOT NULL DEFAULT now())")
            current = int(await conn.fetchval("SELECT COALESCE(max(version), 0) FROM schema_migrations"))
            if current > latest:
                raise StorageError(
                    f"DATABASE_URL {self.where} has schema version {current}, newer than this bot knows ({latest}). "
                    "It was written by a newer version: upgrade the bot, or point DATABASE_URL at another "
                    "database. Nothing was changed.")
            pending = [m for m in migrations if current < m.version <= target]
            if not pending:
                return None
            migration = pending[0]
            try:
                await conn.execute(migration.sql)
            except asyncpg.PostgresError as exc:
                raise StorageError(
                    f"PostgreSQL migration {migration.name} failed ({exc}); {self.where} was left at schema "
                    f"version {current} with its data intact") from exc
            await conn.execute("INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                               migration.version, migration.name)
            return migration

    async def schema_version(self) -> int:
        with driver_errors(self.where):
            return int(await self._pool.fetchval("SELECT COALESCE(max(version), 0) FROM schema_migrations"))

    # --- statements --------------------------------------------------------------------------

    async def execute(self, sql: str, *args: Any) -> int:
        """One statement in its own transaction; the rows it changed."""
        with driver_errors(self.where):
            return rows_changed(await self._pool.execute(sql, *args))

    async def fetch(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        with driver_errors(self.where):
            return list(await self._pool.fetch(sql, *args))

    async def fetchrow(self, sql: str, *args: Any) -> asyncpg.Record | None:
        with driver_errors(self.where):
            return await self._pool.fetchrow(sql, *args)

    async def fetchval(self, sql: str, *args: Any) -> Any:
        with driver_errors(self.where):
            return await self._pool.fetchval(sql, *args)

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[asyncpg.Connection]:
        """BEGIN ... COMMIT on one pooled connection, rolled back on any error."""
        with driver_errors(self.where):
            async with self._pool.acquire() as conn, conn.transaction():
                yield conn

    async def delete_in_batches(self, table: str, where: str, args: Sequence[Any], *, order_by: str,
                                batch: int = 500) -> int:
        """DELETE `batch` rows per statement (each its own short transaction); the rows deleted.
        `where` numbers its parameters $1..$n; `table`, `where` and `order_by` are never user input."""
        limit = f"${len(args) + 1}"
        sql = f"DELETE FROM {table} WHERE ctid IN (SELECT ctid FROM {table} WHERE {where} ORDER BY {order_by} LIMIT {limit})"
        removed = 0
        while True:
            deleted = await self.execute(sql, *args, batch)
            removed += deleted
            if deleted < batch:
                return removed

    async def size_bytes(self) -> int:
        return int(await self.fetchval("SELECT pg_database_size(current_database())"))

    # --- LISTEN / NOTIFY ---------------------------------------------------------------------

    @staticmethod
    async def notify(conn: asyncpg.Connection, channel: str, payload: dict[str, Any]) -> None:
        """Queue a notification in the caller's transaction: the others hear it only if it commits."""
        await conn.execute("SELECT pg_notify($1, $2)", channel, json.dumps(payload, separators=(",", ":")))

    async def listen(self, channel: str, callback: NotifyCallback) -> Callable[[], None]:
        """callback(payload) for every notification on `channel` (this process's own included); the undo."""
        self._listeners.setdefault(channel, []).append(callback)
        conn = await self._listening()
        if conn is not None and len(self._listeners[channel]) == 1:
            with driver_errors(self.where):
                await conn.add_listener(channel, self._dispatch)

        def undo() -> None:
            if callback in self._listeners.get(channel, []):
                self._listeners[channel].remove(callback)
        return undo

    def on_reconnect(self, callback: Callable[[], Awaitable[None]]) -> None:
        """Called after the listening connection came back: notifications may have been missed."""
        self._on_reconnect.append(callback)

    async def _listening(self) -> asyncpg.Connection | None:
        if self._listen_conn is None and not self.closed:
            with driver_errors(self.where):
                self._listen_conn = await asyncpg.connect(
                    self.url, timeout=10, server_settings={"application_name": "discord-llm-bot listener"})
            self._listen_conn.add_termination_listener(self._lost)
        return self._listen_conn

    def _dispatch(self, _conn: object, _pid: int, channel: str, payload: str) -> None:
        for callback in list(self._listeners.get(channel, [])):
            try:
                result = callback(payload)
            except Exception:  # one bad listener must not silence the others
                log.exception("Notification listener on %s failed", channel)
                continue
            if result is not None:
                task = asyncio.ensure_future(result)
                self._tasks.add(task)
                task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("Notification listener failed", exc_info=task.exception())

    def _lost(self, _conn: object) -> None:
        self._listen_conn = None
        if not self.closed and (self._reconnecting is None or self._reconnecting.done()):
            log.warning("Lost the PostgreSQL listening connection to %s; reconnecting", self.where)
            self._reconnecting = asyncio.ensure_future(self._reconnect())

    async def _reconnect(self) -> None:
        while not self.closed:
            try:
                conn = await self._listening()
                assert conn is not None
                for channel in self._listeners:
                    await conn.add_listener(channel, self._dispatch)
            except (StorageError, *DRIVER_ERRORS) as exc:
                log.info("PostgreSQL listener still down (%s); retrying in %.0f s", exc, RECONNECT_DELAY)
                self._listen_conn = None
                await asyncio.sleep(RECONNECT_DELAY)
                continue
            log.info("PostgreSQL listening connection to %s is back", self.where)
            for callback in list(self._on_reconnect):
                try:
                    await callback()
                except Exception:
                    log.exception("Reconnect callback failed")
            return

    # --- lifecycle ---------------------------------------------------------------------------

    async def connect(self, *, application_name: str) -> asyncpg.Connection:
        """A dedicated connection outside the pool (session-level advisory locks must stay on one)."""
        with driver_errors(self.where):
            return await asyncpg.connect(self.url, timeout=10, server_settings={"application_name": application_name})

    async def __aenter__(self) -> PgDatabase:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        for task in [self._reconnecting, *self._tasks]:
            if task is not None and not task.done():
                task.cancel()
        if self._listen_conn is not None:
            conn, self._listen_conn = self._listen_conn, None
            conn.remove_termination_listener(self._lost)
            with contextlib.suppress(*DRIVER_ERRORS):
                await conn.close(timeout=5)
        with contextlib.suppress(*DRIVER_ERRORS):
            await asyncio.wait_for(self._pool.close(), 10)
