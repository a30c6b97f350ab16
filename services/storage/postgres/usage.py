"""llm_usage rows in PostgreSQL: one upsert per attempt returns the day's total of every process."""

from __future__ import annotations

import time
from collections.abc import Callable

from services.llm.usage import COUNTERS, DailyUsage, UsageRecord, UsageStore, counter_values, daily
from services.storage.postgres.database import PgDatabase


class PostgresUsageStore(UsageStore):
    def __init__(self, db: PgDatabase, *, clock: Callable[[], float] = time.time) -> None:
        super().__init__(clock=clock)
        self._db = db

    async def _totals(self, day: str) -> dict[str, int]:
        rows = await self._db.fetch(
            "SELECT provider, prompt_tokens + completion_tokens FROM llm_usage WHERE day = $1", day)
        return {r[0]: int(r[1]) for r in rows}

    async def _add(self, day: str, record: UsageRecord) -> int:
        values = ", ".join(f"${i}" for i in range(3, len(COUNTERS) + 4))
        updates = ", ".join(f"{c} = llm_usage.{c} + excluded.{c}" for c in COUNTERS)
        total = await self._db.fetchval(
            f"INSERT INTO llm_usage (day, provider, {', '.join(COUNTERS)}, latency_ms_max) VALUES ($1, $2, {values}) "
            f"ON CONFLICT (day, provider) DO UPDATE SET {updates}, "
            "latency_ms_max = GREATEST(llm_usage.latency_ms_max, excluded.latency_ms_max) "
            "RETURNING prompt_tokens + completion_tokens",
            day, record.provider, *counter_values(record), record.latency_ms or 0.0)
        return int(total)

    async def for_day(self, day: str | None = None) -> list[DailyUsage]:
        rows = await self._db.fetch("SELECT * FROM llm_usage WHERE day = $1 ORDER BY provider", day or self.today())
        return [daily(r) for r in rows]

    async def recent(self, days: int = 7) -> list[DailyUsage]:
        rows = await self._db.fetch(
            "SELECT * FROM llm_usage WHERE day IN (SELECT DISTINCT day FROM llm_usage ORDER BY day DESC LIMIT $1) "
            "ORDER BY day DESC, provider", days)
        return [daily(r) for r in rows]
