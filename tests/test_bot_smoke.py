"""The bot builds, loads every cog in cogs/, and closes what it was given."""

from __future__ import annotations

import aiohttp

from bot import Bot, discover_cogs
from config.settings import load_settings
from services.storage import Database


async def test_bot_loads_every_cog_and_closes_cleanly(tmp_path):
    settings = load_settings({"DISCORD_TOKEN": "t" * 24, "DATABASE_PATH": str(tmp_path / "bot.db")})
    db = await Database.open(settings.database_path)
    session = aiohttp.ClientSession()
    bot = Bot(settings, session, db, sync_commands=False)
    assert discover_cogs() and all(name.startswith("cogs.") for name in discover_cogs())
    async with bot:
        await bot.setup_hook()
        assert bot.failed_extensions == {}
        assert sorted(bot.extensions) == sorted(discover_cogs())
        assert bot.tree.get_commands(), "the cogs register slash commands"
    assert session.closed
    assert db.closed


async def test_a_broken_cog_is_logged_and_the_others_load(tmp_path, caplog, monkeypatch):
    broken = tmp_path / "broken_cog_for_test.py"
    broken.write_text("raise RuntimeError('cog exploded at import')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    settings = load_settings({"DISCORD_TOKEN": "t" * 24, "DATABASE_PATH": str(tmp_path / "bot.db")})
    db = await Database.open(settings.database_path)
    bot = Bot(settings, aiohttp.ClientSession(), db, sync_commands=False,
              extensions=["broken_cog_for_test", *discover_cogs()])
    async with bot:
        await bot.setup_hook()
        assert "cog exploded at import" in bot.failed_extensions["broken_cog_for_test"]
        assert sorted(bot.extensions) == sorted(discover_cogs())
    assert "cog exploded at import" in caplog.text
