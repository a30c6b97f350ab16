"""`python -m config --health`: is the running bot alive and connected? For Docker's HEALTHCHECK.

Every bot process's health monitor probes its own Discord gateway connection every
HEALTH_CHECK_INTERVAL seconds and stores the result (row `discord:gateway`, or with several processes
`discord:gateway:<its shards>`). A fresh, good row therefore means three things at once: the process
runs, its event loop is not stuck, and it is connected to Discord. Read-only; it never creates the
database. With DATABASE_URL the row is read from PostgreSQL.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path

from config.settings import Settings
from services.redact import describe_url
from services.shards import gateway_service

ALIVE = ("healthy", "degraded")  # degraded: connected but slow, or no heartbeat acknowledged yet
GRACE = 15.0  # seconds on top of two intervals and a probe timeout (the monitor adds jitter)
Row = tuple[str, float, str | None]


def check_health(settings: Settings, now: float | None = None) -> tuple[bool, str]:
    """(healthy, one line saying why) from this process's gateway probe's last stored result."""
    now = time.time() if now is None else now
    service = gateway_service(settings.home_shards)
    if settings.database_url:
        found = asyncio.run(_postgres_row(settings.database_url, service))
    else:
        found = _sqlite_row(Path(settings.database_path), service)
    if isinstance(found, str):
        return False, found
    if found is None:
        return False, "the bot has not checked its Discord connection yet (starting?)"
    status, checked_at, last_error = found
    age = now - checked_at
    limit = 2 * settings.health_check_interval + settings.health_probe_timeout + GRACE
    if age > limit:
        return False, f"stale: the Discord connection was last checked {age:.0f} s ago (limit {limit:.0f} s)"
    if status not in ALIVE:
        return False, f"Discord gateway {status}: {last_error or 'no detail'}"
    return True, f"Discord gateway {status}, checked {max(age, 0):.0f} s ago"


def _sqlite_row(path: Path, service: str) -> Row | str | None:
    if not path.is_file():
        return f"no database at {path} yet: the bot has not started"
    try:
        with sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=5) as conn:
            row = conn.execute("SELECT status, checked_at, last_error FROM service_health WHERE service = ?",
                               (service,)).fetchone()
    except sqlite3.Error as exc:
        return f"cannot read {path}: {exc}"
    return None if row is None else (row[0], row[1], row[2])


async def _postgres_row(url: str, service: str) -> Row | str | None:
    import asyncpg  # only when PostgreSQL is used

    where = describe_url(url)
    try:
        conn = await asyncpg.connect(url, timeout=5)
    except (asyncpg.PostgresError, OSError, TimeoutError) as exc:
        return f"cannot reach PostgreSQL at {where}: {type(exc).__name__}"
    try:
        row = await conn.fetchrow("SELECT status, checked_at, last_error FROM service_health WHERE service = $1",
                                  service, timeout=5)
    except asyncpg.UndefinedTableError:
        return f"no tables in PostgreSQL at {where} yet: the bot has not started"
    except (asyncpg.PostgresError, OSError, TimeoutError) as exc:
        return f"cannot read PostgreSQL at {where}: {type(exc).__name__}"
    finally:
        await conn.close()
    return None if row is None else (row[0], row[1], row[2])
