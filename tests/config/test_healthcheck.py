"""`python -m config --health` judges the gateway probe the running bot stores: fresh and connected."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

from config.healthcheck import check_health
from config.settings import load_settings
from services.shards import gateway_service
from services.storage import Database
from services.storage.backend import PostgresBackend
from services.storage.postgres.database import PgDatabase
from services.storage.sqlite.health import SqliteHealthStore

GATEWAY = "discord:gateway"

ROOT = Path(__file__).resolve().parents[2]


def settings_for(path: Path):
    return load_settings({"DATABASE_PATH": str(path), "HEALTH_CHECK_INTERVAL": "10", "HEALTH_PROBE_TIMEOUT": "5"},
                         require_token=False)


async def test_fresh_connected_stale_and_down(tmp_path):
    path = tmp_path / "bot.db"
    settings = settings_for(path)
    assert check_health(settings) == (False, f"no database at {path} yet: the bot has not started")
    db = await Database.open(path)
    try:
        assert check_health(settings)[1].startswith("the bot has not checked")
        store = SqliteHealthStore(db, clock=lambda: 1000.0)
        await store.record_success(GATEWAY, 42.0)
        assert check_health(settings, now=1003.0) == (True, "Discord gateway healthy, checked 3 s ago")
        # 2 intervals + probe timeout + grace = 40 s: a stuck loop or a dead process stops refreshing it.
        assert check_health(settings, now=1040.0)[0]
        healthy, reason = check_health(settings, now=1041.0)
        assert not healthy and reason.startswith("stale: the Discord connection was last checked 41 s ago")
        await store.record_failure(GATEWAY, "not connected to the Discord gateway")
        assert check_health(settings, now=1001.0) == (
            False, "Discord gateway down: not connected to the Discord gateway")
    finally:
        await db.close()


def test_the_name_matches_the_admin_cogs_probe():
    assert gateway_service(settings_for(Path("x")).home_shards) == GATEWAY


def test_command_line(tmp_path):
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(ROOT), "DATABASE_PATH": str(tmp_path / "bot.db")}
    result = subprocess.run([sys.executable, "-m", "config", "--health"], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert result.stdout.startswith("unhealthy: no database at") and result.stderr == ""
    assert not (tmp_path / "bot.db").exists(), "the health check must never create the database"


async def test_with_postgresql_each_process_reads_its_own_gateway_row(postgres_dsn):
    """Several processes: the container check of the process on shard 1 reads discord:gateway:1."""
    env = {"DATABASE_URL": postgres_dsn, "SHARD_COUNT": "2", "SHARD_IDS": "1", "HEALTH_CHECK_INTERVAL": "10",
           "HEALTH_PROBE_TIMEOUT": "5"}
    settings = load_settings(env, require_token=False)

    async def check(*args, **kwargs):  # the command runs its own event loop: off this one
        return await asyncio.to_thread(check_health, *args, **kwargs)

    assert (await check(settings))[1].startswith("no tables in PostgreSQL")
    backend = PostgresBackend(await PgDatabase.open(postgres_dsn))
    try:
        store = backend.health(clock=lambda: 1000.0)
        assert (await check(settings))[1].startswith("the bot has not checked")
        await store.record_success("discord:gateway:0", 5.0)  # the other process's row
        assert not (await check(settings, now=1001.0))[0]
        await store.record_success("discord:gateway:1", 7.0)
        assert await check(settings, now=1002.0) == (True, "Discord gateway healthy, checked 2 s ago")
    finally:
        await backend.close()
    unreachable = load_settings({**env, "DATABASE_URL": "postgresql://bot:pw@127.0.0.1:9/bot"}, require_token=False)
    healthy, reason = await check(unreachable)
    assert not healthy and reason.startswith("cannot reach PostgreSQL at 127.0.0.1:9/bot") and "pw" not in reason
