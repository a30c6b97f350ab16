"""service_health rows in SQLite (one process: nobody else to tell)."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable

from services.storage.db import Database
from services.storage.health import HealthStore, ServiceHealth


class SqliteHealthStore(HealthStore):
    def __init__(self, db: Database, *, clock: Callable[[], float] = time.time) -> None:
        super().__init__(clock=clock)
        self._db = db

    async def get(self, service: str) -> ServiceHealth | None:
        row = await self._db.fetchone("SELECT * FROM service_health WHERE service = ?", (service,))
        return ServiceHealth(**dict(row)) if row else None

    async def all(self) -> list[ServiceHealth]:
        rows = await self._db.fetchall("SELECT * FROM service_health ORDER BY service")
        return [ServiceHealth(**dict(r)) for r in rows]

    async def _upsert(self, health: ServiceHealth, previous: ServiceHealth | None) -> None:
        values = dataclasses.asdict(health)
        columns = ", ".join(values)
        updates = ", ".join(f"{c} = excluded.{c}" for c in values if c != "service")
        await self._db.execute(
            f"INSERT INTO service_health ({columns}) VALUES ({', '.join('?' * len(values))}) "
            f"ON CONFLICT (service) DO UPDATE SET {updates}", tuple(values.values()))
