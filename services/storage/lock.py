"""SQLite is for one process: an exclusive lock on `<DATABASE_PATH>.lock` held for the process lifetime.

Two bot processes on one SQLite file would both deliver every reminder and both answer every
mention; the second refuses to start instead. flock is released by the kernel when the process
ends, however it ends (kill -9 included), so a crash never leaves a stale lock. Readers (backups,
`sqlite3`, `python -m config --health`) do not take it.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from services.storage.db import PRIVATE_FILE, PRIVATE_FOLDER, StorageError


class ProcessLock:
    def __init__(self, database: Path) -> None:
        self.database = database
        self.path = database.with_name(database.name + ".lock")
        self._fd: int | None = None

    def acquire(self) -> ProcessLock:
        if not self.path.parent.exists():  # first start: the folder is made as Database.open makes it
            self.path.parent.mkdir(parents=True, mode=PRIVATE_FOLDER, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, PRIVATE_FILE)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "?"
            os.close(fd)
            raise StorageError(
                f"DATABASE_PATH {self.database} is in use by another bot process (pid {holder}). "
                "SQLite is for one process only: stop the other one, or use PostgreSQL (DATABASE_URL) to run "
                "several.") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)  # closing the descriptor releases the flock
