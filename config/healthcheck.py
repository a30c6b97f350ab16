"""`python -m config --health`: is the running bot alive and connected? For Docker's HEALTHCHECK.

The bot's health monitor probes the Discord gateway every HEALTH_CHECK_INTERVAL seconds and stores the
result in SQLite. A fresh, good row therefore means three things at once: the process runs, its event
loop is not stuck, and it is connected to Discord. Read-only; it never creates the database.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from config.settings import Settings

GATEWAY = "discord:gateway"  # the service name cogs/admin.py records the gateway probe under
ALIVE = ("healthy", "degraded")  # degraded: connected but slow, or no heartbeat acknowledged yet
GRACE = 15.0  # seconds on top of two intervals and a probe timeout (the monitor adds jitter)


def check_health(settings: Settings, now: float | None = None) -> tuple[bool, str]:
    """(healthy, one line saying why) from the gateway probe's last stored result."""
    now = time.time() if now is None else now
    path = Path(settings.database_path)
    if not path.is_file():
        return False, f"no database at {path} yet: the bot has not started"
    try:
        with sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=5) as conn:
            row = conn.execute("SELECT status, checked_at, last_error FROM service_health WHERE service = ?",
                               (GATEWAY,)).fetchone()
    except sqlite3.Error as exc:
        return False, f"cannot read {path}: {exc}"
    if row is None:
        return False, "the bot has not checked its Discord connection yet (starting?)"
    status, checked_at, last_error = row
    age = now - checked_at
    limit = 2 * settings.health_check_interval + settings.health_probe_timeout + GRACE
    if age > limit:
        return False, f"stale: the Discord connection was last checked {age:.0f} s ago (limit {limit:.0f} s)"
    if status not in ALIVE:
        return False, f"Discord gateway {status}: {last_error or 'no detail'}"
    return True, f"Discord gateway {status}, checked {max(age, 0):.0f} s ago"
