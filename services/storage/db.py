"""The one SQLite connection the bot uses, and its schema migrations.

aiosqlite runs every statement on one worker thread, but coroutines still interleave between
awaits; a lock keeps one coroutine's transaction from swallowing another's statements.
WAL mode plus `busy_timeout` lets other processes (backups, a second bot run, the tests) write
without "database is locked".
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import sqlite3
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiosqlite

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
_MIGRATION_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


class StorageError(Exception):
    """The database cannot be used as it is; the message says why and what to do.
    PostgreSQL's driver errors reach callers as this too (services/storage/postgres/database.py)."""


# What a store call raises when the database is unavailable, locked or full, on either backend.
DATABASE_ERRORS: tuple[type[Exception], ...] = (sqlite3.Error, StorageError)


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


def load_migrations(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    """Migrations from NNNN_name.sql files; numbers must run 1, 2, 3... without gaps."""
    migrations = []
    for path in sorted(directory.iterdir()):
        match = _MIGRATION_NAME.match(path.name)
        if match:
            migrations.append(Migration(int(match.group(1)), path.stem, path.read_text("utf-8")))
    for expected, migration in enumerate(migrations, start=1):
        if migration.version != expected:
            raise StorageError(f"migration {migration.name} is out of sequence (expected number {expected})")
    return migrations


def split_statements(script: str) -> list[str]:
    """Split a SQL script into statements (executescript would commit our transaction)."""
    statements, current = [], ""
    for line in script.splitlines(keepends=True):
        current += line
        if sqlite3.complete_statement(current):
            if current.strip():
                statements.append(current.strip())
            current = ""
    if current.strip() and not all(
        ln.strip().startswith("--") or not ln.strip() for ln in current.splitlines()
    ):
        raise StorageError(f"incomplete SQL statement in migration: {current.strip()[:80]!r}")
    return statements


PRIVATE_FOLDER, PRIVATE_FILE = 0o700, 0o600
DATABASE_SUFFIXES = ("", "-wal", "-shm", "-journal")


def make_private(path: Path) -> None:
    """Create the database's folder (0700) and file (0600) for the owner only, and tighten existing files.

    Conversations, transcripts and reminders are personal data. SQLite gives its -wal and -shm files
    the database file's mode, so creating the file first with 0600 covers them; files left by an
    older version are tightened here. A folder that already existed is left as it is: it may be
    the user's own (DATABASE_PATH=./bot.db).
    """
    if not path.parent.exists():
        path.parent.mkdir(parents=True, mode=PRIVATE_FOLDER, exist_ok=True)
    try:
        os.close(os.open(path, os.O_CREAT | os.O_RDWR, PRIVATE_FILE))
    except OSError as exc:  # a read-only file system, a folder in the way: SQLite says it better
        log.debug("Could not create %s beforehand: %s", path, exc)
    for suffix in DATABASE_SUFFIXES:
        sibling = path.with_name(path.name + suffix)
        try:
            if sibling.exists() and sibling.stat().st_mode & 0o077:
                sibling.chmod(PRIVATE_FILE)
        except OSError as exc:
            log.warning("Could not make %s readable by its owner only: %s", sibling, exc)


class Database:
    """One aiosqlite connection with a lock; repositories take it in their constructor."""

    def __init__(self, path: Path, conn: aiosqlite.Connection) -> None:
        self.path = path
        self._conn = conn
        self._lock = asyncio.Lock()
        self.closed = False

    @classmethod
    async def open(cls, path: str | Path, *, busy_timeout_ms: int = 10_000,
                   target_version: int | None = None,
                   migrations: Sequence[Migration] | None = None) -> Database:
        """Open (creating folder and file if needed), configure, and migrate to the latest schema."""
        path = Path(path)
        if str(path) != ":memory:":
            make_private(path)
        conn = await aiosqlite.connect(path, isolation_level=None)
        conn.row_factory = aiosqlite.Row
        db = cls(path, conn)
        try:
            await db._configure(busy_timeout_ms)
            await db._migrate(list(migrations) if migrations is not None else load_migrations(), target_version)
        except sqlite3.DatabaseError as exc:
            await conn.close()
            raise StorageError(
                f"DATABASE_PATH {path} is not a usable SQLite database ({exc}). "
                "It may be corrupt or not a database at all: move it aside or restore a backup; "
                "the bot never deletes it on its own."
            ) from exc
        except BaseException:
            await conn.close()
            raise
        return db

    async def _configure(self, busy_timeout_ms: int) -> None:
        # busy_timeout first, so even switching to WAL waits for another writer.
        await self._conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        row = await (await self._conn.execute("PRAGMA journal_mode = WAL")).fetchone()
        if row and str(row[0]).lower() != "wal" and str(self.path) != ":memory:":
            log.warning("SQLite refused WAL mode (journal_mode=%s); concurrency will be lower", row[0])
        await self._conn.execute("PRAGMA foreign_keys = ON")
        await self._conn.execute("PRAGMA synchronous = NORMAL")

    async def _migrate(self, migrations: list[Migration], target: int | None) -> None:
        latest = migrations[-1].version if migrations else 0
        target = latest if target is None else target
        current = await self.schema_version()
        if current > latest:
            raise StorageError(
                f"DATABASE_PATH {self.path} has schema version {current}, newer than this bot knows "
                f"({latest}). It was written by a newer version: upgrade the bot, or point "
                "DATABASE_PATH at another file. Nothing was changed."
            )
        for migration in migrations:
            if migration.version <= current or migration.version > target:
                continue
            await self._apply(migration)

    async def _apply(self, migration: Migration) -> None:
        await self._conn.execute("BEGIN IMMEDIATE")
        try:
            # Another process may have migrated while we waited for the write lock.
            if await self.schema_version() >= migration.version:
                await self._conn.execute("ROLLBACK")
                return
            for statement in split_statements(migration.sql):
                await self._conn.execute(statement)
            await self._conn.execute(f"PRAGMA user_version = {migration.version}")
            await self._conn.execute("COMMIT")
        except sqlite3.Error as exc:
            await self._conn.execute("ROLLBACK")
            raise StorageError(
                f"database migration {migration.name} failed ({exc}); {self.path} was left at schema "
                "version " + str(migration.version - 1) + " with its data intact"
            ) from exc
        except BaseException:
            await self._conn.execute("ROLLBACK")
            raise
        log.info("Applied database migration %s", migration.name)

    async def schema_version(self) -> int:
        row = await (await self._conn.execute("PRAGMA user_version")).fetchone()
        return int(row[0]) if row else 0

    async def __aenter__(self) -> Database:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        async with self._lock:
            await self._conn.close()

    # --- statements --------------------------------------------------------------------------

    async def execute(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> int:
        """Run one statement in its own implicit transaction; return the rows it changed."""
        async with self._lock:
            cursor = await self._conn.execute(sql, params)
            return cursor.rowcount

    async def delete_in_batches(self, table: str, where: str, params: Sequence[Any], *, order_by: str,
                                batch: int = 500) -> int:
        """DELETE FROM `table` WHERE `where`, `batch` rows per statement; return the rows deleted.

        Each batch is its own short transaction and the lock is released between them, so pruning a
        large backlog never makes other writes (a /remind, a delivery) wait for more than one batch.
        `table`, `where` and `order_by` are the caller's SQL, never user input.
        """
        sql = (f"DELETE FROM {table} WHERE rowid IN "
               f"(SELECT rowid FROM {table} WHERE {where} ORDER BY {order_by} LIMIT ?)")
        removed = 0
        while True:
            deleted = await self.execute(sql, (*params, batch))
            removed += deleted
            if deleted < batch:
                return removed

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        async with self.transaction() as tx:
            await tx.executemany(sql, rows)

    async def fetchone(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> aiosqlite.Row | None:
        async with self._lock:
            cursor = await self._conn.execute(sql, params)
            return await cursor.fetchone()

    async def fetchall(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[aiosqlite.Row]:
        async with self._lock:
            cursor = await self._conn.execute(sql, params)
            return list(await cursor.fetchall())

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        """BEGIN IMMEDIATE ... COMMIT, rolled back on any error; statements inside use the yielded connection."""
        async with self._lock:
            await self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                await self._conn.execute("ROLLBACK")
                raise
            await self._conn.execute("COMMIT")

    async def size_bytes(self) -> int:
        """Database plus WAL file size, for /health (page counts, so no blocking stat calls)."""
        pages = await self.fetchone("PRAGMA page_count")
        page_size = await self.fetchone("PRAGMA page_size")
        return int(pages[0]) * int(page_size[0]) if pages and page_size else 0
