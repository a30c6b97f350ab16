"""PostgreSQL's own side of storage: versioned migrations under an advisory lock, a newer schema
refused untouched, a failed migration rolled back alone, and connection problems in one line without
the password."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from devtools.postgres import PostgresCluster
from services.storage.db import MIGRATIONS_DIR as SQLITE_MIGRATIONS
from services.storage.db import Migration, StorageError, load_migrations
from services.storage.postgres.database import MIGRATIONS_DIR, PgDatabase


async def tables(dsn: str) -> set[str]:
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        return {r[0] for r in rows}
    finally:
        await conn.close()


def test_migrations_mirror_sqlites_number_for_number() -> None:
    """PostgreSQL migration N is SQLite migration N in the other dialect, so a new table is added as
    the same number in both folders (docs/SCALING.md)."""
    assert [m.name for m in load_migrations(MIGRATIONS_DIR)] == [m.name for m in load_migrations(SQLITE_MIGRATIONS)]


async def test_a_fresh_database_gets_every_migration(postgres_dsn: str) -> None:
    async with await PgDatabase.open(postgres_dsn) as db:
        assert await db.schema_version() == len(load_migrations(MIGRATIONS_DIR))
        rows = await db.fetch("SELECT version, name FROM schema_migrations ORDER BY version")
        assert [(r[0], r[1]) for r in rows] == [(m.version, m.name) for m in load_migrations(MIGRATIONS_DIR)]
    assert {"cache", "service_health", "llm_usage", "reminders", "user_settings", "conversation_turns",
            "health_history", "voice_settings", "schema_migrations"} <= await tables(postgres_dsn)
    async with await PgDatabase.open(postgres_dsn) as again:  # reopening applies nothing
        assert await again.schema_version() == len(load_migrations(MIGRATIONS_DIR))


async def test_processes_starting_together_migrate_once(postgres_dsn: str) -> None:
    opened = await asyncio.gather(*(PgDatabase.open(postgres_dsn, max_size=2) for _ in range(4)))
    try:
        count = await opened[0].fetchval("SELECT count(*) FROM schema_migrations")
        assert count == len(load_migrations(MIGRATIONS_DIR))
    finally:
        for db in opened:
            await db.close()


async def test_an_older_schema_is_upgraded_with_its_data(postgres_dsn: str) -> None:
    async with await PgDatabase.open(postgres_dsn, target_version=3) as old:
        await old.execute("INSERT INTO cache VALUES ('n', 'k', '\"kept\"', 0, 9e18)")
        assert "reminders" not in await tables(postgres_dsn)
    async with await PgDatabase.open(postgres_dsn) as new:
        assert await new.fetchval("SELECT value FROM cache WHERE namespace = 'n'") == '"kept"'
        assert await new.schema_version() == len(load_migrations(MIGRATIONS_DIR))


async def test_a_failed_migration_rolls_back_alone(postgres_dsn: str) -> None:
    good = Migration(1, "0001_good", "CREATE TABLE a (x integer);")
    bad = Migration(2, "0002_bad", "CREATE TABLE b (x integer);\nINSERT INTO nowhere VALUES (1);")
    with pytest.raises(StorageError, match=r"migration 0002_bad failed.*nowhere.*left at schema version 1"):
        await PgDatabase.open(postgres_dsn, migrations=[good, bad])
    assert await tables(postgres_dsn) == {"a", "schema_migrations"}


async def test_a_newer_schema_is_refused_untouched(postgres_dsn: str) -> None:
    conn = await asyncpg.connect(postgres_dsn)
    try:
        await conn.execute("CREATE TABLE schema_migrations (version integer PRIMARY KEY, name text NOT NULL, "
                           "applied_at timestamptz NOT NULL DEFAULT now())")
        await conn.execute("INSERT INTO schema_migrations (version, name) VALUES (999, '0999_future')")
        await conn.execute("CREATE TABLE precious (x integer)")
    finally:
        await conn.close()
    with pytest.raises(StorageError, match="schema version 999, newer than this bot knows") as caught:
        await PgDatabase.open(postgres_dsn)
    assert "postgres:" not in str(caught.value).split("@")[0], "no user or password in the message"
    assert await tables(postgres_dsn) == {"schema_migrations", "precious"}


async def test_connection_problems_are_one_line_without_the_password(postgres: PostgresCluster) -> None:
    wrong = postgres.dsn().replace(postgres.password, "not-the-password")
    with pytest.raises(StorageError, match="refused the user and password") as refused:
        await PgDatabase.open(wrong)
    missing = postgres.dsn("no_such_database")
    with pytest.raises(StorageError, match=r"no_such_database.*create it first") as absent:
        await PgDatabase.open(missing)
    closed = f"postgresql://bot:hunter22@127.0.0.1:{postgres.port + 1}/bot"
    with pytest.raises(StorageError, match=r"cannot connect to PostgreSQL at 127\.0\.0\.1:\d+/bot") as unreachable:
        await PgDatabase.open(closed, connect_timeout=5)
    for caught, secret in ((refused, "not-the-password"), (absent, postgres.password), (unreachable, "hunter22")):
        assert secret not in str(caught.value) and "\n" not in str(caught.value)


async def test_notifications_arrive_only_when_the_transaction_commits(postgres_dsn: str) -> None:
    async with await PgDatabase.open(postgres_dsn) as db:
        heard: list[str] = []
        arrived = asyncio.Event()

        def callback(payload: str) -> None:
            heard.append(payload)
            arrived.set()

        await db.listen("test_channel", callback)
        with pytest.raises(RuntimeError):
            async with db.transaction() as conn:
                await PgDatabase.notify(conn, "test_channel", {"n": 1})
                raise RuntimeError("rolled back")
        async with db.transaction() as conn:
            await PgDatabase.notify(conn, "test_channel", {"n": 2})
        await asyncio.wait_for(arrived.wait(), 5)
        await asyncio.sleep(0.05)
        assert heard == ['{"n":2}']


async def test_the_listening_connection_comes_back_after_the_server_drops_it(postgres_dsn: str) -> None:
    async with await PgDatabase.open(postgres_dsn) as db:
        heard: asyncio.Queue[str] = asyncio.Queue()
        reconnected = asyncio.Event()

        async def on_reconnect() -> None:
            reconnected.set()

        await db.listen("test_channel", heard.put_nowait)
        db.on_reconnect(on_reconnect)
        killed = await db.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE application_name = 'discord-llm-bot listener' AND datname = current_database()")
        assert killed == 1
        await asyncio.wait_for(reconnected.wait(), 10)  # missed notifications: the owner re-reads
        async with db.transaction() as conn:
            await PgDatabase.notify(conn, "test_channel", {"after": True})
        assert await asyncio.wait_for(heard.get(), 5) == '{"after":true}'
