"""Per provider and UTC day: requests, tokens, errors, fallbacks, latency; persisted in llm_usage.

Today's token totals are also kept in memory, so checking LLM_DAILY_TOKEN_BUDGET before every
request costs no query. Each record returns the day's total from the database, so with several
processes on one PostgreSQL the total a process checks includes what the others spent up to its
own last request (the budget is a soft limit: the overshoot is bounded by requests in flight).

`UsageStore` is the contract and the in-memory totals; the backends hold only SQL.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

COUNTERS = ("requests", "errors", "fallbacks", "prompt_tokens", "completion_tokens", "estimated_requests",
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


class UsageStore(ABC):
    def __init__(self, *, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._day = ""
        self._tokens: dict[str, int] = {}

    # --- SQL, one implementation per backend ---------------------------------------------------

    @abstractmethod
    async def _totals(self, day: str) -> dict[str, int]:
        """Tokens (prompt + completion) per provider on `day`."""

    @abstractmethod
    async def _add(self, day: str, record: UsageRecord) -> int:
        """Add one attempt to (day, provider) in one statement; return the provider's new token total."""

    @abstractmethod
    async def for_day(self, day: str | None = None) -> list[DailyUsage]: ...

    @abstractmethod
    async def recent(self, days: int = 7) -> list[DailyUsage]:
        """The last `days` days that have rows, newest first."""

    # --- shared logic ----------------------------------------------------------------------------

    def today(self) -> str:
        return datetime.fromtimestamp(self._clock(), UTC).strftime("%Y-%m-%d")

    async def restore(self) -> None:
        """Load today's token totals (after a restart the budget keeps counting where it was)."""
        day = self.today()
        self._day, self._tokens = day, await self._totals(day)

    def tokens_today(self, provider: str) -> int:
        if self._day != self.today():
            self._day, self._tokens = self.today(), {}
        return self._tokens.get(provider, 0)

    async def record(self, record: UsageRecord) -> None:
        day = self.today()
        total = await self._add(day, record)
        self.tokens_today(record.provider)  # rolls the in-memory day over if needed
        if self._day == day:
            self._tokens[record.provider] = total


def counter_values(record: UsageRecord) -> tuple[float, ...]:
    """What one attempt adds to each of COUNTERS, in order."""
    return (1, int(record.error), int(record.fallback), record.prompt_tokens, record.completion_tokens,
            int(record.estimated), record.latency_ms or 0.0, int(record.latency_ms is not None),
            record.ttft_ms or 0.0, int(record.ttft_ms is not None))


def daily(row: Any) -> DailyUsage:
    def avg(total: str, count: str) -> float | None:
        return row[total] / row[count] if row[count] else None

    return DailyUsage(
        day=row["day"], provider=row["provider"], requests=row["requests"], errors=row["errors"],
        fallbacks=row["fallbacks"], prompt_tokens=row["prompt_tokens"],
        completion_tokens=row["completion_tokens"], estimated_requests=row["estimated_requests"],
        avg_latency_ms=avg("latency_ms_sum", "latency_count"), max_latency_ms=row["latency_ms_max"],
        avg_ttft_ms=avg("ttft_ms_sum", "ttft_count"),
    )
