"""health_history rows in PostgreSQL."""

from __future__ import annotations

from services.health.history import HealthHistory, kept_error
from services.storage.health import ServiceHealth
from services.storage.postgres.database import PgDatabase


class PostgresHealthHistory(HealthHistory):
    def __init__(self, db: PgDatabase) -> None:
        self._db = db

    async def add(self, h: ServiceHealth) -> None:
        await self._db.execute(
            "INSERT INTO health_history (service, status, latency_ms, error, checked_at) VALUES ($1, $2, $3, $4, $5)",
            h.service, h.status, h.latency_ms, kept_error(h), h.checked_at)

    async def recent(self, service: str, limit: int = 50) -> list[tuple[str, float]]:
        rows = await self._db.fetch(
            "SELECT status, checked_at FROM health_history WHERE service = $1 ORDER BY id DESC LIMIT $2",
            service, limit)
        return [(r[0], r[1]) for r in rows]

    async def prune(self, older_than: float) -> int:
        return await self._db.delete_in_batches("health_history", "checked_at < $1", (older_than,),
                                                order_by="checked_at")
