"""llm_usage rows in SQLite."""

from __future__ import annotations

import time
from collections.abc import Callable

from services.llm.usage import COUNTERS, DailyUsage, UsageRecord, UsageStore, counter_values, daily
from services.storage.db import Database


class SqliteUsageStore(UsageStore):
    def __init__(self, db: Database, *, clock: Callable[[], float] = time.time) -> None:
        super().__init__(clock=clock)
        self._db = db

    async def _totals(self, day: str) -> dict[str, int]:
        rows = await self._db.fetchall(
            "SELECT provider, prompt_tokens + completion_tokens FROM llm_usage WHERE day = ?", (day,))
        return {r[0]: int(r[1]) for r in rows}

    async def _add(self, day: str, record: UsageRecord) -> int:
        updates = ", ".join(f"{c} = {c} + excluded.{c}" for c in COUNTERS)
        # fetchall: a RETURNING statement holds the write lock until its rows are all read.
        rows = await self._db.fetchall(
            f"INSERT INTO llm_usage (day, provider, {', '.join(COUNTERS)}, latency_ms_max) "
            f"VALUES (?, ?, {', '.join('?' * len(COUNTERS))}, ?) "
            f"ON CONFLICT (day, provider) DO UPDATE SET {updates}, "
            "latency_ms_max = MAX(latency_ms_max, excluded.latency_ms_max) "
            "RETURNING prompt_tokens + completion_tokens",
            (day, record.provider, *counter_values(record), record.latency_ms or 0.0))
        return int(rows[0][0]) if rows else 0

    async def for_day(self, day: str | None = None) -> list[DailyUsage]:
        rows = await self._db.fetchall("SELECT * FROM llm_usage WHERE day = ? ORDER BY provider",
                                       (day or self.today(),))
        return [daily(r) for r in rows]

    async def recent(self, days: int = 7) -> list[DailyUsage]:
        rows = await self._db.fetchall(
            "SELECT * FROM llm_usage WHERE day IN (SELECT DISTINCT day FROM llm_usage ORDER BY day DESC LIMIT ?) "
            "ORDER BY day DESC, provider", (days,))
        return [daily(r) for r in rows]
