"""Logging for the whole process: console always, a rotating file when asked, secrets redacted."""

from __future__ import annotations

import logging
import logging.handlers
from pathlib import Path

from config.settings import Settings
from services.redact import RedactingFilter

FORMAT = "%(asctime)s %(levelname)-8s %(name)s: %(message)s"


def setup_logging(settings: Settings, *, log_dir: Path | None = None) -> None:
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    redactor = RedactingFilter(settings.secrets())
    handlers: list[logging.Handler] = [logging.StreamHandler()]
    if settings.log_file_enabled:
        directory = log_dir or Path(settings.database_path).parent / "logs"
        directory.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.handlers.RotatingFileHandler(
            directory / "bot.log", maxBytes=settings.log_file_max_bytes,
            backupCount=settings.log_file_backups, encoding="utf-8"))
    for handler in handlers:
        handler.setFormatter(logging.Formatter(FORMAT))
        handler.addFilter(redactor)
        root.addHandler(handler)
    root.setLevel(settings.log_level)
    # discord.py's gateway chatter at DEBUG is huge; keep it one level quieter than ours.
    logging.getLogger("discord").setLevel(max(logging.getLevelName(settings.log_level), logging.INFO))
