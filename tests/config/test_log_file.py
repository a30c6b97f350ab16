"""The rotating log goes where the README and .env.example say: logs/bot.log beside the database."""

from __future__ import annotations

import logging
from pathlib import Path

from config.log_setup import setup_logging
from config.settings import Settings, env_example, load_settings

ROOT = Path(__file__).resolve().parents[2]


def test_log_file_is_beside_the_database_as_documented(tmp_path):
    settings = load_settings({"DISCORD_TOKEN": "tok-SECRET-123456", "LOG_FILE_ENABLED": "true",
                              "DATABASE_PATH": str(tmp_path / "state" / "bot.db")})
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    try:
        setup_logging(settings)
        logging.getLogger("test").warning("written with tok-SECRET-123456 in it")
        for handler in root.handlers:
            handler.flush()
        text = (tmp_path / "state" / "logs" / "bot.log").read_text()
    finally:
        for handler in root.handlers:
            handler.close()
        root.handlers[:], root.level = saved
    assert "written with" in text and "SECRET" not in text
    default = Path(Settings().database_path).parent / "logs" / "bot.log"
    assert str(default) == "data/logs/bot.log"
    assert f"`{default}`" in (ROOT / "README.md").read_text()
    assert f"({default} by default)" in env_example()


def test_log_files_are_for_the_owner_only(tmp_path):
    """Logs name members and quote what they asked: logs/ 0700, bot.log 0600, also after a rotation."""
    settings = load_settings({"DISCORD_TOKEN": "tok-SECRET-123456", "LOG_FILE_ENABLED": "true",
                              "LOG_FILE_MAX_BYTES": "10000", "DATABASE_PATH": str(tmp_path / "data" / "bot.db")})
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    try:
        setup_logging(settings)
        for i in range(300):
            logging.getLogger("test").warning("line %d of a log that rotates", i)
    finally:
        for handler in root.handlers:
            handler.close()
        root.handlers[:], root.level = saved
    logs = tmp_path / "data" / "logs"
    assert (logs.stat().st_mode & 0o777) == 0o700
    files = sorted(p.name for p in logs.iterdir())
    assert files[:2] == ["bot.log", "bot.log.1"], files
    for path in logs.iterdir():
        assert (path.stat().st_mode & 0o777) == 0o600, path.name
