"""The bot builds, loads every extension in EXTENSIONS, and closes what it built and nothing else."""

from __future__ import annotations

import pkgutil

import aiohttp

import cogs
from bot import EXTENSIONS, Bot
from config.settings import load_settings
from services.storage import Database
from services.storage.backend import SqliteBackend


def test_every_cog_module_is_listed_and_every_listed_one_exists() -> None:
    found = {f"cogs.{m.name}" for m in pkgutil.iter_modules(cogs.__path__)}
    assert set(EXTENSIONS) == found, "add new cogs to bot.EXTENSIONS (and no helper modules in cogs/)"


async def test_bot_loads_every_cog_and_leaves_its_session_and_database_to_their_owner(tmp_path):
    settings = load_settings({"DISCORD_TOKEN": "t" * 24, "DATABASE_PATH": str(tmp_path / "bot.db")})
    async with await Database.open(settings.database_path) as db, aiohttp.ClientSession() as session:
        bot = Bot(settings, session, SqliteBackend(db), sync_commands=False)
        async with bot:
            await bot.setup_hook()
            assert bot.failed_extensions == {}
            assert sorted(bot.extensions) == sorted(EXTENSIONS)
            assert bot.tree.get_commands(), "the cogs register slash commands"
            assert bot.services.monitor.running
            assert bot.services.reminders.scheduler is not None
        assert not bot.services.monitor.running and bot.services.reminders.scheduler is None
        assert not session.closed and not db.closed, "the bot closed what main owns"
    assert session.closed and db.closed


async def test_a_broken_cog_is_logged_and_the_others_load(tmp_path, caplog, monkeypatch):
    broken = tmp_path / "broken_cog_for_test.py"
    broken.write_text("raise RuntimeError('cog exploded at import')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    settings = load_settings({"DISCORD_TOKEN": "t" * 24, "DATABASE_PATH": str(tmp_path / "bot.db")})
    async with await Database.open(settings.database_path) as db, aiohttp.ClientSession() as session:
        bot = Bot(settings, session, SqliteBackend(db), sync_commands=False, extensions=["broken_cog_for_test", *EXTENSIONS])
        async with bot:
            await bot.setup_hook()
            assert "cog exploded at import" in bot.failed_extensions["broken_cog_for_test"]
            assert sorted(bot.extensions) == sorted(EXTENSIONS)
    assert "cog exploded at import" in caplog.text
