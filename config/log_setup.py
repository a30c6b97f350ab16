"""Logging for the whole process: console always, a rotating file when asked, secrets redacted."""

from __future__ import annotations

import logging
import logging.handlers
import os
from pathlib import Path

from config.settings import Settings
from services.redact import RedactingFilter

FORMAT = "%(asctime)s %(levelname)-8s %(name)s: %(message)s"


class PrivateRotatingFileHandler(logging.handlers.RotatingFileHandler):
    """Log files readable by their owner only (0600): logs name members and quote what they asked."""

    def _open(self):  # type: ignore[no-untyped-def]  # logging's own signature
        fd = os.open(self.baseFilename, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        if os.fstat(fd).st_mode & 0o077:  # a file left by an older version
            os.fchmod(fd, 0o600)
        return os.fdopen(fd, self.mode, encoding=self.encoding, errors=self.errors)


def setup_logging(settings: Settings, *, log_dir: Path | None = None) -> None:
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    redactor = RedactingFilter(settings.secrets())
    handlers: list[logging.Handler] = [logging.StreamHandler()]
    if settings.log_file_enabled:
        directory = log_dir or Path(settings.database_path).parent / "logs"
        if not directory.exists():
            directory.mkdir(parents=True, mode=0o700, exist_ok=True)
        handlers.append(PrivateRotatingFileHandler(
            directory / "bot.log", maxBytes=settings.log_file_max_bytes,
            backupCount=settings.log_file_backups, encoding="utf-8"))
    for handler in handlers:
        handler.setFormatter(logging.Formatter(FORMAT))
        handler.addFilter(redactor)
        root.addHandler(handler)
    root.setLevel(settings.log_level)
    # discord.py's gateway chatter at DEBUG is huge; keep it one level quieter than ours.
    logging.getLogger("discord").setLevel(max(logging.getLevelName(settings.log_level), logging.INFO))
