"""The throwaway PostgreSQL cluster: a real server on loopback, a fresh database per test, run as the
`postgres` OS user when the suite runs as root (PostgreSQL refuses root) and as the current user otherwise."""

from __future__ import annotations

import json
import os
import pwd
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import asyncpg
import pytest

from devtools.postgres import SERVER_USER, PostgresCluster, find_bin_dir

REPO = Path(__file__).resolve().parents[2]


def _process_uid(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Uid:"):
            return int(line.split()[1])
    raise AssertionError(f"no Uid line for process {pid}")


@pytest.mark.parametrize("run", ["first", "second"])
async def test_each_test_gets_a_fresh_database(postgres_dsn: str, run: str) -> None:
    conn = await asyncpg.connect(postgres_dsn)
    try:
        assert await conn.fetchval(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'") == 0
        # No IF NOT EXISTS: the second run fails here if it were given the first run's database.
        await conn.execute("CREATE TABLE notes (id serial PRIMARY KEY, body text NOT NULL)")
        await conn.executemany("INSERT INTO notes (body) VALUES ($1)", [(run,), ("and more",)])
        assert [r["body"] for r in await conn.fetch("SELECT body FROM notes ORDER BY id")] == [run, "and more"]
    finally:
        await conn.close()


async def test_a_database_is_dropped_after_use_even_with_a_connection_left_open(postgres: PostgresCluster) -> None:
    async with postgres.database() as dsn:
        leaked = await asyncpg.connect(dsn)
        name = dsn.rsplit("/", 1)[1]
        await leaked.execute("CREATE TABLE t (x int)")
    admin = await asyncpg.connect(postgres.dsn())
    try:
        assert await admin.fetchval("SELECT count(*) FROM pg_database WHERE datname = $1", name) == 0
    finally:
        await admin.close()
    with pytest.raises((asyncpg.PostgresError, asyncpg.InterfaceError, OSError)):
        await leaked.fetchval("SELECT 1")
    await leaked.close()


async def test_the_server_listens_on_loopback_and_wants_the_password(postgres: PostgresCluster) -> None:
    conn = await asyncpg.connect(postgres.dsn())
    try:
        assert await conn.fetchval("SHOW listen_addresses") == "127.0.0.1"
        assert int(await conn.fetchval("SHOW port")) == postgres.port
        assert await conn.fetchval("SHOW unix_socket_directories") == str(postgres.socket_dir)
        assert await conn.fetchval("SHOW data_directory") == str(postgres.data_dir)
        assert await conn.fetchval("SELECT current_user") == postgres.user
    finally:
        await conn.close()
    with pytest.raises(asyncpg.InvalidPasswordError):
        await asyncpg.connect(host=postgres.host, port=postgres.port, user=postgres.user, password="wrong",
                              database="postgres")


def test_the_server_never_runs_as_root(postgres: PostgresCluster) -> None:
    pid = int((postgres.data_dir / "postmaster.pid").read_text().splitlines()[0])
    expected = pwd.getpwnam(SERVER_USER).pw_uid if os.geteuid() == 0 else os.geteuid()
    assert _process_uid(pid) == expected
    assert postgres.data_dir.stat().st_uid == expected


async def test_stop_ends_the_server_and_deletes_its_files() -> None:
    cluster = PostgresCluster().start()
    root, dsn = cluster.root, cluster.dsn()
    assert root is not None
    conn = await asyncpg.connect(dsn)
    await conn.close()
    cluster.stop()
    assert not root.exists()
    with pytest.raises(OSError):
        await asyncpg.connect(dsn, timeout=5)


def test_the_server_programs_are_found_off_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """Debian keeps initdb and pg_ctl in /usr/lib/postgresql/N/bin, not on PATH."""
    installed = find_bin_dir()
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.delenv("PG_BIN", raising=False)
    found = find_bin_dir()
    assert (found / "initdb").exists() and (found / "pg_ctl").exists()
    assert found.parent.parent == Path("/usr/lib/postgresql")
    monkeypatch.setenv("PG_BIN", str(installed))
    assert find_bin_dir() == installed


def test_a_non_root_user_runs_the_server_itself() -> None:
    """The suite usually runs as root (CI); a developer's shell does not. A user namespace where we
    are uid 1000 exercises that path for real."""
    if os.geteuid() != 0:
        pytest.skip("the session's own cluster already runs as this non-root user")
    if shutil.which("unshare") is None:
        pytest.skip("unshare (util-linux) is missing")
    script = textwrap.dedent("""
        import asyncio, json, os, asyncpg
        from devtools.postgres import PostgresCluster

        async def main(pg):
            conn = await asyncpg.connect(pg.dsn())
            try:
                return await conn.fetchval("SELECT 6 * 7")
            finally:
                await conn.close()

        with PostgresCluster() as pg:
            pid = int((pg.data_dir / "postmaster.pid").read_text().splitlines()[0])
            uid = [int(l.split()[1]) for l in open(f"/proc/{pid}/status") if l.startswith("Uid:")][0]
            print(json.dumps({"euid": os.geteuid(), "server_uid": uid, "answer": asyncio.run(main(pg))}))
    """)
    done = subprocess.run(["unshare", "--user", "--map-user=1000", "--map-group=1000", sys.executable, "-c", script],
                          cwd=REPO, capture_output=True, text=True, timeout=120, check=False,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    if done.returncode != 0 and "unshare failed" in done.stderr:
        pytest.skip(f"user namespaces are not available here: {done.stderr.strip()}")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result == {"euid": 1000, "server_uid": 1000, "answer": 42}
