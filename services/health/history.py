"""Every probe result, kept HEALTH_HISTORY_DAYS, for trends and post-mortems (table health_history)."""

from __future__ import annotations

from services.storage.db import Database
from services.storage.health import ServiceHealth


class HealthHistory:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def add(self, h: ServiceHealth) -> None:
        # Only failures keep their error: a healthy row repeating an old error would mislead.
        await self._db.execute(
            "INSERT INTO health_history (service, status, latency_ms, error, checked_at) VALUES (?, ?, ?, ?, ?)",
            (h.service, h.status, h.latency_ms, h.last_error if h.status in ("down", "degraded") else None,
             h.checked_at))

    async def recent(self, service: str, limit: int = 50) -> list[tuple[str, float]]:
        """(status, checked_at), newest first."""
        rows = await self._db.fetchall(
            "SELECT status, checked_at FROM health_history WHERE service = ? ORDER BY id DESC LIMIT ?",
            (service, limit))
        return [(r[0], r[1]) for r in rows]

    async def prune(self, older_than: float) -> int:
        return await self._db.delete_in_batches("health_history", "checked_at < ?", (older_than,),
                                                order_by="checked_at")
