"""Copy a SQLite database into PostgreSQL (`python -m config --migrate-sqlite-to DATABASE_URL`).

The SQLite file is only read (in one read transaction, so the copy is one consistent snapshot) and
locked for the copy as the bot locks it, so a running bot and a copy never overlap. The target is
migrated to the latest schema and must be empty; every table is copied in one PostgreSQL
transaction, identity sequences are moved past the copied ids, and the row counts are compared
before the commit: a copy that does not match leaves the target as it was. Nothing is deleted.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiosqlite

from services.storage.db import StorageError, load_migrations
from services.storage.lock import ProcessLock
from services.storage.postgres.database import PgDatabase

# Every table the bot keeps, parents first; a new table is added here too (docs/SCALING.md).
TABLES = ("cache", "service_health", "llm_usage", "reminders", "user_settings", "conversation_turns",
          "health_history", "voice_settings", "chat_profiles", "voice_optouts", "conversation_messages",
          "token_quota_usage")
IDENTITIES = {"reminders": "id", "conversation_turns": "id", "health_history": "id"}
BATCH = 5_000

_CONVERT: dict[str, Callable[[Any], Any]] = {
    "boolean": bool, "bigint": int, "integer": int, "smallint": int, "double precision": float, "text": str,
}


@dataclass(frozen=True)
class Copied:
    table: str
    rows: int


async def copy_sqlite_to_postgres(sqlite_path: Path, url: str, *,
                                  progress: Callable[[Copied], None] = lambda _: None) -> list[Copied]:
    """Copy every table; StorageError (nothing changed in the target) when it cannot be done."""
    if not await asyncio.to_thread(sqlite_path.is_file):
        raise StorageError(f"DATABASE_PATH {sqlite_path} does not exist: nothing to copy")
    lock = ProcessLock(sqlite_path)
    try:
        lock.acquire()
    except StorageError as exc:
        raise StorageError(f"{exc} Stop the bot before copying its database.") from None
    try:
        absolute = await asyncio.to_thread(sqlite_path.resolve)
        source = await aiosqlite.connect(f"{absolute.as_uri()}?mode=ro", uri=True)
        try:
            return await _copy(source, sqlite_path, url, progress)
        except sqlite3.Error as exc:
            raise StorageError(f"DATABASE_PATH {sqlite_path} cannot be read as a SQLite database ({exc})") from exc
        finally:
            await source.close()
    finally:
        lock.release()


async def _copy(source: aiosqlite.Connection, path: Path, url: str,
                progress: Callable[[Copied], None]) -> list[Copied]:
    version = (await (await source.execute("PRAGMA user_version")).fetchone() or (0,))[0]
    latest = len(load_migrations())
    if version < latest:
        raise StorageError(f"DATABASE_PATH {path} has schema version {version}, this bot's is {latest}: start this "
                           "version of the bot once on it (it upgrades the file in place), stop it, then copy")
    if version > latest:
        raise StorageError(f"DATABASE_PATH {path} has schema version {version}, newer than this bot knows "
                           f"({latest}): copy it with the newer bot")
    target = await PgDatabase.open(url, min_size=1, max_size=2)
    try:
        await _refuse_rows(target)
        await source.execute("BEGIN")  # one snapshot of the file for every table
        copied: list[Copied] = []
        async with target.transaction() as conn:
            for table in TABLES:
                types = {r[0]: r[1] for r in await conn.fetch(
                    "SELECT column_name, data_type FROM information_schema.columns "
                    "WHERE table_schema = current_schema() AND table_name = $1", table)}
                cursor = await source.execute(f"SELECT * FROM {table}")
                columns = [d[0] for d in cursor.description if d[0] in types]
                lost = [d[0] for d in cursor.description if d[0] not in types]
                if lost:  # a column PostgreSQL's migrations lack would be dropped without a word
                    raise StorageError(f"{table}.{', '.join(lost)} has no place in PostgreSQL's {table}: the two "
                                       "schemas differ; nothing was committed")
                index = {d[0]: i for i, d in enumerate(cursor.description)}
                converters = [_CONVERT.get(types[c], lambda v: v) for c in columns]
                rows = 0
                while batch := await cursor.fetchmany(BATCH):
                    records = [tuple(None if row[index[c]] is None else convert(row[index[c]])
                                     for c, convert in zip(columns, converters, strict=True)) for row in batch]
                    await conn.copy_records_to_table(table, records=records, columns=columns)
                    rows += len(records)
                await cursor.close()
                if table in IDENTITIES:
                    column = IDENTITIES[table]
                    await conn.execute(
                        f"SELECT setval(pg_get_serial_sequence('{table}', '{column}'), "
                        f"COALESCE((SELECT max({column}) FROM {table}), 0) + 1, false)")
                counted = await conn.fetchval(f"SELECT count(*) FROM {table}")
                if counted != rows:
                    raise StorageError(f"copying {table} went wrong: {rows} rows read, {counted} in PostgreSQL; "
                                       "nothing was committed")
                copied.append(Copied(table, rows))
                progress(copied[-1])
        await source.execute("COMMIT")
        return copied
    finally:
        await target.close()


async def _refuse_rows(target: PgDatabase) -> None:
    for table in TABLES:
        count = await target.fetchval(f"SELECT count(*) FROM {table}")
        if count:
            raise StorageError(f"DATABASE_URL {target.where} already holds data ({table}: {count} rows): copy "
                               "only into an empty database. Nothing was changed.")
