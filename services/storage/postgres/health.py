"""service_health rows in PostgreSQL; every write tells the other processes (NOTIFY health).

The notification carries the service and its old and new status; a process hearing another's
notification re-reads the row (its breakers restore from it, and the leader alerts on a change).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from collections.abc import Callable

from services.storage.health import HealthStore, ServiceHealth
from services.storage.postgres.database import PgDatabase

log = logging.getLogger(__name__)

CHANNEL = "health"
_COLUMNS = [f.name for f in dataclasses.fields(ServiceHealth)]


class PostgresHealthStore(HealthStore):
    def __init__(self, db: PgDatabase, *, clock: Callable[[], float] = time.time) -> None:
        super().__init__(clock=clock)
        self._db = db

    async def start(self) -> None:
        """Hear the other processes' writes (main's backend calls this once; tests may skip it)."""
        await self._db.listen(CHANNEL, self._heard)
        self._db.on_reconnect(self._missed)

    async def _missed(self) -> None:
        """Writes may have been missed while not listening: every watcher re-reads its row."""
        for health in await self.all():
            await self.changed_elsewhere(health.service, health.status, health.status)

    async def get(self, service: str) -> ServiceHealth | None:
        row = await self._db.fetchrow("SELECT * FROM service_health WHERE service = $1", service)
        return ServiceHealth(**dict(row)) if row else None

    async def all(self) -> list[ServiceHealth]:
        return [ServiceHealth(**dict(r)) for r in await self._db.fetch("SELECT * FROM service_health ORDER BY service")]

    async def _upsert(self, health: ServiceHealth, previous: ServiceHealth | None) -> None:
        values = dataclasses.asdict(health)
        placeholders = ", ".join(f"${i}" for i in range(1, len(_COLUMNS) + 1))
        updates = ", ".join(f"{c} = excluded.{c}" for c in _COLUMNS if c != "service")
        async with self._db.transaction() as conn:
            await conn.execute(
                f"INSERT INTO service_health ({', '.join(_COLUMNS)}) VALUES ({placeholders}) "
                f"ON CONFLICT (service) DO UPDATE SET {updates}", *(values[c] for c in _COLUMNS))
            await PgDatabase.notify(conn, CHANNEL, {
                "service": health.service, "old": previous.status if previous else None, "new": health.status,
                "by": self._db.token})

    async def _heard(self, payload: str) -> None:
        try:
            note = json.loads(payload)
            if note["by"] == self._db.token:
                return
            service, old, new = str(note["service"]), note["old"], str(note["new"])
        except (ValueError, KeyError, TypeError):
            log.warning("Ignored a malformed health notification: %.200r", payload)
            return
        await self.changed_elsewhere(service, old, new)
