"""Migrations, refusal of unusable files, and concurrent writers."""

from __future__ import annotations

import asyncio
import sqlite3
import sys
import textwrap
from pathlib import Path

import pytest

from services.storage.db import Database, Migration, StorageError, load_migrations, split_statements
from services.storage.lock import ProcessLock


async def test_fresh_database_gets_every_migration(tmp_path):
    db = await Database.open(tmp_path / "sub" / "bot.db")
    try:
        assert await db.schema_version() == load_migrations()[-1].version
        mode = await db.fetchone("PRAGMA journal_mode")
        assert mode[0] == "wal"
        assert (await db.fetchone("PRAGMA foreign_keys"))[0] == 1
        assert (await db.fetchone("PRAGMA busy_timeout"))[0] >= 1000
        tables = {r[0] for r in await db.fetchall("SELECT name FROM sqlite_master WHERE type='table'")}
        assert {"cache", "service_health"} <= tables
    finally:
        await db.close()


async def test_reopening_is_idempotent(tmp_path):
    path = tmp_path / "bot.db"
    db = await Database.open(path)
    await db.execute("INSERT INTO cache VALUES ('n', 'k', '1', 0, 9e18)")
    await db.close()
    db = await Database.open(path)
    try:
        assert await db.schema_version() == load_migrations()[-1].version
        assert (await db.fetchone("SELECT COUNT(*) FROM cache"))[0] == 1
    finally:
        await db.close()


async def test_upgrade_from_older_version_keeps_data(tmp_path):
    path = tmp_path / "bot.db"
    db = await Database.open(path, target_version=1)
    assert await db.schema_version() == 1
    await db.execute("INSERT INTO cache VALUES ('old', 'k', '\"kept\"', 0, 9e18)")
    assert await db.fetchone("SELECT name FROM sqlite_master WHERE name='service_health'") is None
    await db.close()
    db = await Database.open(path)
    try:
        assert await db.schema_version() == load_migrations()[-1].version
        assert (await db.fetchone("SELECT value FROM cache WHERE namespace='old'"))[0] == '"kept"'
        assert await db.fetchone("SELECT name FROM sqlite_master WHERE name='service_health'") is not None
    finally:
        await db.close()


async def test_failed_migration_rolls_back_alone(tmp_path):
    good = Migration(1, "0001_good", "CREATE TABLE a (x INTEGER);")
    bad = Migration(2, "0002_bad", "CREATE TABLE b (x INTEGER);\nINSERT INTO nowhere VALUES (1);")
    with pytest.raises(StorageError, match=r"migration 0002_bad failed.*no such table"):
        await Database.open(tmp_path / "bot.db", migrations=[good, bad])
    db = await Database.open(tmp_path / "bot.db", migrations=[good])
    try:
        assert await db.schema_version() == 1
        assert await db.fetchone("SELECT name FROM sqlite_master WHERE name='b'") is None
    finally:
        await db.close()


async def test_newer_schema_is_refused_untouched(tmp_path):
    path = tmp_path / "bot.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE precious (x)")
        conn.execute("PRAGMA user_version = 999")
    with pytest.raises(StorageError, match="newer than this bot knows"):
        await Database.open(path)
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 999
        assert conn.execute("SELECT name FROM sqlite_master WHERE name='precious'").fetchone()


async def test_corrupt_file_gives_clear_error_and_is_kept(tmp_path):
    path = tmp_path / "bot.db"
    path.write_bytes(b"this is not a database at all" * 100)
    with pytest.raises(StorageError, match="not a usable SQLite database"):
        await Database.open(path)
    assert path.read_bytes().startswith(b"this is not a database")


def test_main_reports_corrupt_database_in_one_line(tmp_path):
    from tests.config.test_main_settings import run_main

    (tmp_path / "bad.db").write_bytes(b"garbage" * 1000)
    result = run_main(tmp_path, {"DISCORD_TOKEN": "t" * 20, "DATABASE_PATH": str(tmp_path / "bad.db")})
    assert result.returncode == 1
    assert "not a usable SQLite database" in result.stderr
    assert "Traceback" not in result.stderr


async def test_transactions_from_concurrent_coroutines_do_not_mix(tmp_path):
    db = await Database.open(tmp_path / "bot.db")

    async def writer(n: int, fail: bool) -> None:
        async with db.transaction() as tx:
            await tx.execute("INSERT INTO cache VALUES (?, 'k', '1', 0, 9e18)", (f"ns{n}",))
            await asyncio.sleep(0)
            if fail:
                raise RuntimeError("boom")

    results = await asyncio.gather(*(writer(n, n % 2 == 1) for n in range(20)), return_exceptions=True)
    try:
        assert sum(isinstance(r, RuntimeError) for r in results) == 10
        rows = await db.fetchall("SELECT namespace FROM cache ORDER BY namespace")
        assert sorted(r[0] for r in rows) == sorted(f"ns{n}" for n in range(0, 20, 2))
    finally:
        await db.close()


async def test_another_process_writing_does_not_raise_locked(tmp_path):
    path = tmp_path / "bot.db"
    db = await Database.open(path)
    script = textwrap.dedent(f"""
        import sqlite3, time
        conn = sqlite3.connect({str(path)!r}, isolation_level=None, timeout=10)
        for i in range(40):
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("INSERT INTO cache VALUES ('other', ?, '1', 0, 9e18)", (str(i),))
            time.sleep(0.01)   # hold the write lock a while
            conn.execute("COMMIT")
    """)
    proc = await asyncio.create_subprocess_exec(sys.executable, "-c", script)
    try:
        for i in range(40):
            await db.execute("INSERT INTO cache VALUES ('mine', ?, '1', 0, 9e18)", (str(i),))
            async with db.transaction() as tx:
                await tx.execute("UPDATE cache SET value = '2' WHERE namespace = 'mine' AND key = ?", (str(i),))
        assert await proc.wait() == 0
        counts = dict(await db.fetchall("SELECT namespace, COUNT(*) FROM cache GROUP BY namespace"))
        assert counts == {"mine": 40, "other": 40}
    finally:
        if proc.returncode is None:
            proc.kill()
        await db.close()


def test_split_statements_handles_semicolons_in_strings_and_comments():
    script = "-- a comment; with a semicolon\nCREATE TABLE t (x TEXT DEFAULT 'a;b');\nINSERT INTO t VALUES ('c;d');\n-- trailing"
    assert split_statements(script) == [
        "-- a comment; with a semicolon\nCREATE TABLE t (x TEXT DEFAULT 'a;b');", "INSERT INTO t VALUES ('c;d');"]


def test_migration_files_are_numbered_without_gaps():
    versions = [m.version for m in load_migrations()]
    assert versions == list(range(1, len(versions) + 1))


async def test_database_folder_and_files_are_for_the_owner_only(tmp_path):
    """Conversations and reminders are personal: data/ 0700, the database and its WAL and SHM 0600."""
    path = tmp_path / "data" / "bot.db"
    db = await Database.open(path)
    try:
        await db.execute("INSERT INTO cache VALUES ('n', 'k', '1', 0, 9e18)")  # the WAL and SHM files exist now
        assert path.with_name("bot.db-wal").exists() and path.with_name("bot.db-shm").exists()
        assert (path.parent.stat().st_mode & 0o777) == 0o700
        for name in ("bot.db", "bot.db-wal", "bot.db-shm"):
            assert (path.with_name(name).stat().st_mode & 0o777) == 0o600, name
    finally:
        await db.close()


async def test_files_left_readable_by_an_older_version_are_tightened(tmp_path):
    tmp_path.chmod(0o755)
    path = tmp_path / "bot.db"
    await (await Database.open(path)).close()
    path.chmod(0o644)
    db = await Database.open(path)
    try:
        assert (path.stat().st_mode & 0o777) == 0o600
        assert (tmp_path.stat().st_mode & 0o777) == 0o755, "a folder that existed (maybe the user's own) is left alone"
    finally:
        await db.close()


def test_the_process_lock_of_a_first_start_is_private_and_exclusive(tmp_path: Path) -> None:
    path = tmp_path / "fresh" / "bot.db"
    lock = ProcessLock(path).acquire()
    try:
        assert (path.parent.stat().st_mode & 0o777) == 0o700
        assert (lock.path.stat().st_mode & 0o777) == 0o600
        with pytest.raises(StorageError, match=r"in use by another bot process \(pid \d+\)"):
            ProcessLock(path).acquire()
    finally:
        lock.release()
    ProcessLock(path).acquire().release()  # free again once released
