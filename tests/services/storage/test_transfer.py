"""`python -m config --migrate-sqlite-to DATABASE_URL`: every table copied from SQLite into an empty
PostgreSQL database, read back through the stores, verified by counts, the file left as it was."""

from __future__ import annotations

import asyncio
import hashlib
import os
import subprocess
import sys
from datetime import date, time
from pathlib import Path

import asyncpg
import pytest

from services.chat.memory import MessageRef, Turn
from services.llm.usage import UsageRecord
from services.reminders.models import NewReminder, Outcome
from services.reminders.recurrence import Daily
from services.storage import StorageError
from services.storage.backend import Backend, PostgresBackend, SqliteBackend
from services.storage.db import Database
from services.storage.lock import ProcessLock
from services.storage.postgres.database import PgDatabase
from services.storage.transfer import TABLES, copy_sqlite_to_postgres
from services.voice import GuildVoiceSettings

ROOT = Path(__file__).resolve().parents[3]
NOW = 1_800_000_000.0
DEFAULTS = GuildVoiceSettings(voice="af_heart", speed=1.0, rvc=False, listen=True)
BIG = 1_234_567_890_123_456_789  # Discord ids need 64 bits


async def fill(backend: Backend) -> dict[str, object]:
    """A little of everything the bot keeps, in every table."""
    clock = lambda: NOW  # noqa: E731
    await backend.cache(clock=clock).set("search:web", "q", {"title": "Pâté ✓", "n": [1, 2]}, ttl=3600)
    health = backend.health(clock=clock)
    await health.record_failure("llm:ollama", "refused", status="down")
    await health.set_circuit("llm:ollama", "open", opened_at=NOW - 5)
    await backend.health_history().add(await health.record_success("tts:kokoro", 12.5))
    await backend.usage(clock=clock).record(UsageRecord("ollama", 120, 30, latency_ms=250.0))
    reminders = backend.reminders(clock=clock)
    once = await reminders.add(NewReminder(BIG, BIG + 1, BIG + 2, False, "tea 🍵", NOW + 60, None, "Europe/Berlin"))
    daily = await reminders.add(NewReminder(7, None, None, True, "pills", NOW + 120,
                                            Daily(1, time(9), date(2027, 1, 1)), "UTC"))
    done = await reminders.add(NewReminder(7, 1, 2, False, "done", NOW - 10, None, "UTC"))
    await reminders.claim_due(NOW, 10, claim="copy")
    await reminders.apply([Outcome(done.id, "delivered", done.due_at, done.occurrence_at, 0, None, NOW)],
                          claim="copy")
    await reminders.set_timezone(BIG, "America/New_York")
    conversations = backend.conversations(clock=clock)
    for i in range(3):
        await conversations.add(BIG, Turn("user", f"hello {i}", author_name="ann", author_id=BIG))
    await conversations.add_exchange(BIG, Turn("user", "said aloud", "bob", 6, arrived_at=NOW - 1),
                                     Turn("assistant", "spoken"), kind="voice",
                                     messages=[MessageRef(BIG, BIG + 5, transcript_of=6), MessageRef(BIG, BIG + 6)])
    await backend.voice_settings(DEFAULTS).update(BIG, voice="af_sky", speed=1.25, rvc=True, text_channel_id=BIG)
    await backend.voice_optouts(clock=clock).set(BIG, opted_out=True)
    await backend.quotas(clock=clock).add(BIG, BIG + 1, 1234)
    await backend.quotas(clock=clock).add(BIG, None, 5)
    profiles = backend.chat_profiles(default_persona="d", default_chain=(), providers=("ollama",), clock=clock)
    await profiles.set_persona("channel", BIG + 2, BIG + 1, "Pirate ☠", by=BIG)
    await profiles.set_chain("guild", BIG + 1, BIG + 1, "ollama:llava", by=BIG)
    return {"once": once.id, "daily": daily.id, "done": done.id}


async def test_everything_is_copied_and_reads_back_the_same(tmp_path: Path, postgres_dsn: str) -> None:
    path = tmp_path / "bot.db"
    sqlite = SqliteBackend(await Database.open(path))
    ids = await fill(sqlite)
    await sqlite.close()
    before = hashlib.sha256(path.read_bytes()).hexdigest()

    copied = await copy_sqlite_to_postgres(path, postgres_dsn)
    assert [c.table for c in copied] == list(TABLES)
    assert {c.table: c.rows for c in copied} == {
        "cache": 1, "service_health": 2, "llm_usage": 1, "reminders": 3, "user_settings": 1,
        "conversation_turns": 5, "health_history": 1, "voice_settings": 1, "chat_profiles": 2, "voice_optouts": 1,
        "conversation_messages": 2, "token_quota_usage": 2}
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before, "the SQLite file must be left as it was"

    source = SqliteBackend(await Database.open(path))
    target = PostgresBackend(await PgDatabase.open(postgres_dsn))
    try:
        clock = lambda: NOW  # noqa: E731
        assert await target.cache(clock=clock).get("search:web", "q") == {"title": "Pâté ✓", "n": [1, 2]}
        assert await target.health().all() == await source.health().all()
        assert await target.health_history().recent("tts:kokoro") == await source.health_history().recent("tts:kokoro")
        assert await target.usage(clock=clock).for_day() == await source.usage(clock=clock).for_day()
        for reminder_id in ids.values():
            assert await target.reminders().get(reminder_id) == await source.reminders().get(reminder_id)
        assert await target.reminders().get_timezone(BIG) == "America/New_York"
        assert await target.conversations().recent(BIG, 10_000) == await source.conversations().recent(BIG, 10_000)
        assert await target.conversations().recent(BIG, 10_000, kind="voice") == \
            await source.conversations().recent(BIG, 10_000, kind="voice")
        assert await target.voice_settings(DEFAULTS).get(BIG) == await source.voice_settings(DEFAULTS).get(BIG)
        assert await target.voice_optouts().opted_out([BIG, 6]) == {BIG}
        for store in (target.quotas(clock=clock), source.quotas(clock=clock)):
            assert (await store.member_used(BIG), await store.server_used(BIG + 1)) == (1239, 1234)
        profiles = target.chat_profiles(default_persona="d", default_chain=(), providers=("ollama",))
        assert (await profiles.persona(BIG + 1, [BIG + 2])).value == "Pirate ☠"
        assert (await profiles.chain(BIG + 1, [BIG + 2])).source == "server"
        # Erasure works on the copy: the member's exchanges and their transcript go.
        forgotten = await target.conversations().forget_author(6)
        assert forgotten.turns == 2 and forgotten.transcripts == [MessageRef(BIG, BIG + 5, 6)]
        # New rows continue after the copied ids.
        added = await target.reminders().add(NewReminder(1, None, None, True, "new", NOW + 9, None, "UTC"))
        assert added.id > max(ids.values())
        assert await target.conversations().add(BIG, Turn("assistant", "hi")) > 5
    finally:
        await source.close()
        await target.close()


async def test_a_target_with_rows_is_refused_untouched(tmp_path: Path, postgres_dsn: str) -> None:
    path = tmp_path / "bot.db"
    await (await Database.open(path)).close()
    target = PostgresBackend(await PgDatabase.open(postgres_dsn))
    await target.reminders().set_timezone(1, "UTC")
    await target.close()
    with pytest.raises(StorageError, match=r"already holds data \(user_settings: 1 rows\).*Nothing was changed"):
        await copy_sqlite_to_postgres(path, postgres_dsn)


async def test_an_old_or_running_sqlite_file_is_refused(tmp_path: Path, postgres_dsn: str) -> None:
    old = tmp_path / "old.db"
    await (await Database.open(old, target_version=5)).close()
    with pytest.raises(StorageError, match=r"schema version 5.*start this version of the bot once"):
        await copy_sqlite_to_postgres(old, postgres_dsn)
    running = tmp_path / "running.db"
    await (await Database.open(running)).close()
    lock = ProcessLock(running).acquire()  # what the running bot holds
    try:
        with pytest.raises(StorageError, match=r"in use by another bot process.*Stop the bot"):
            await copy_sqlite_to_postgres(running, postgres_dsn)
    finally:
        lock.release()
    conn = await asyncpg.connect(postgres_dsn)
    try:
        assert await conn.fetchval("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'") == 0
    finally:
        await conn.close()


def test_the_command_line_copies_and_reports_counts(tmp_path: Path, postgres_dsn: str) -> None:
    path = tmp_path / "data" / "bot.db"
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(ROOT), "DATABASE_PATH": str(path)}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "config", "--env-file", os.devnull, *args], cwd=tmp_path,
                              env=env, capture_output=True, text=True, timeout=120)

    missing = run("--migrate-sqlite-to", postgres_dsn)
    assert missing.returncode == 1 and "does not exist: nothing to copy" in missing.stderr
    bad = run("--migrate-sqlite-to", "mysql://x:y@h/d")
    assert bad.returncode == 2 and "DATABASE_URL" in bad.stderr and "must start with postgresql://" in bad.stderr
    path.parent.mkdir()

    async def make() -> None:
        backend = SqliteBackend(await Database.open(path))
        await fill(backend)
        await backend.close()

    asyncio.run(make())
    done = run("--migrate-sqlite-to", postgres_dsn)
    assert done.returncode == 0, done.stderr
    assert "  reminders: 3 rows" in done.stdout and "Copied 22 rows in 12 tables; every count matches" in done.stdout
    password = postgres_dsn.split(":")[2].split("@")[0]
    assert password not in done.stdout + done.stderr
    again = run("--migrate-sqlite-to", postgres_dsn)
    assert again.returncode == 1 and "already holds data" in again.stderr


async def test_every_table_the_bot_keeps_is_copied(db: Database) -> None:
    """A migration that adds a table must add it to TABLES too, or the copy would leave it behind."""
    rows = await db.fetchall("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
    assert {r[0] for r in rows} == set(TABLES)
