"""Per provider and UTC day: requests, tokens, errors, fallbacks, latency; persisted in llm_usage.

Today's token totals are also kept in memory, so checking LLM_DAILY_TOKEN_BUDGET before every
request costs no query.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from services.storage.db import Database

_COLUMNS = ("requests", "errors", "fallbacks", "prompt_tokens", "completion_tokens", "estimated_requests",
            "latency_ms_sum", "latency_count", "ttft_ms_sum", "ttft_count")


@dataclass(frozen=True, slots=True)
class UsageRecord:
    """The outcome of one attempt at one provider."""

    provider: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    estimated: bool = False
    error: bool = False
    fallback: bool = False
    latency_ms: float | None = None
    ttft_ms: float | None = None


@dataclass(frozen=True, slots=True)
class DailyUsage:
    day: str
    provider: str
    requests: int
    errors: int
    fallbacks: int
    prompt_tokens: int
    completion_tokens: int
    estimated_requests: int
    avg_latency_ms: float | None
    max_latency_ms: float
    avg_ttft_ms: float | None

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


class UsageStore:
    def __init__(self, db: Database, *, clock: Callable[[], float] = time.time) -> None:
        self._db = db
        self._clock = clock
        self._day = ""
        self._tokens: dict[str, int] = {}

    def today(self) -> str:
        return datetime.fromtimestamp(self._clock(), UTC).strftime("%Y-%m-%d")

    async def restore(self) -> None:
        """Load today's token totals (after a restart the budget keeps counting where it was)."""
        day = self.today()
        rows = await self._db.fetchall(
            "SELECT provider, prompt_tokens + completion_tokens FROM llm_usage WHERE day = ?", (day,))
        self._day, self._tokens = day, {r[0]: int(r[1]) for r in rows}

    def tokens_today(self, provider: str) -> int:
        if self._day != self.today():
            self._day, self._tokens = self.today(), {}
        return self._tokens.get(provider, 0)

    async def record(self, record: UsageRecord) -> None:
        values = (
            1, int(record.error), int(record.fallback), record.prompt_tokens, record.completion_tokens,
            int(record.estimated), record.latency_ms or 0.0, int(record.latency_ms is not None),
            record.ttft_ms or 0.0, int(record.ttft_ms is not None),
        )
        day = self.today()
        updates = ", ".join(f"{c} = {c} + excluded.{c}" for c in _COLUMNS)
        await self._db.execute(
            f"INSERT INTO llm_usage (day, provider, {', '.join(_COLUMNS)}, latency_ms_max) "
            f"VALUES (?, ?, {', '.join('?' * len(_COLUMNS))}, ?) "
            f"ON CONFLICT (day, provider) DO UPDATE SET {updates}, "
            "latency_ms_max = MAX(latency_ms_max, excluded.latency_ms_max)",
            (day, record.provider, *values, record.latency_ms or 0.0),
        )
        self.tokens_today(record.provider)  # rolls the in-memory day over if needed
        self._tokens[record.provider] = (self._tokens.get(record.provider, 0)
                                         + record.prompt_tokens + record.completion_tokens)

    async def for_day(self, day: str | None = None) -> list[DailyUsage]:
        rows = await self._db.fetchall("SELECT * FROM llm_usage WHERE day = ? ORDER BY provider",
                                       (day or self.today(),))
        return [_daily(r) for r in rows]

    async def recent(self, days: int = 7) -> list[DailyUsage]:
        """The last `days` days that have rows, newest first."""
        rows = await self._db.fetchall(
            "SELECT * FROM llm_usage WHERE day IN (SELECT DISTINCT day FROM llm_usage ORDER BY day DESC LIMIT ?) "
            "ORDER BY day DESC, provider", (days,))
        return [_daily(r) for r in rows]


def _daily(row: Any) -> DailyUsage:
    def avg(total: str, count: str) -> float | None:
        return row[total] / row[count] if row[count] else None

    return DailyUsage(
        day=row["day"], provider=row["provider"], requests=row["requests"], errors=row["errors"],
        fallbacks=row["fallbacks"], prompt_tokens=row["prompt_tokens"],
        completion_tokens=row["completion_tokens"], estimated_requests=row["estimated_requests"],
        avg_latency_ms=avg("latency_ms_sum", "latency_count"), max_latency_ms=row["latency_ms_max"],
        avg_ttft_ms=avg("ttft_ms_sum", "ttft_count"),
    )
