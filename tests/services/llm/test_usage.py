"""LLM usage per provider and UTC day on both backends: counters, latency, today's totals for the
budget, recent days, and totals that follow what other processes spend."""

from __future__ import annotations

from datetime import UTC, datetime

from services.llm.usage import UsageRecord
from services.storage.backend import Backend
from tests.conftest import Backends

DAY = datetime(2026, 3, 25, 12, tzinfo=UTC).timestamp()


async def test_records_add_up_per_provider_and_day(backend: Backend) -> None:
    now = [DAY]
    usage = backend.usage(clock=lambda: now[0])
    await usage.record(UsageRecord("ollama", 100, 20, latency_ms=300.0, ttft_ms=50.0))
    await usage.record(UsageRecord("ollama", 10, 5, estimated=True, latency_ms=500.0))
    await usage.record(UsageRecord("ollama", error=True))
    await usage.record(UsageRecord("openrouter", 7, 3, fallback=True, latency_ms=100.0))
    assert usage.tokens_today("ollama") == 135 and usage.tokens_today("openrouter") == 10
    ollama, openrouter = await usage.for_day()
    assert (ollama.provider, ollama.requests, ollama.errors, ollama.prompt_tokens, ollama.completion_tokens,
            ollama.estimated_requests) == ("ollama", 3, 1, 110, 25, 1)
    assert (ollama.avg_latency_ms, ollama.max_latency_ms, ollama.avg_ttft_ms) == (400.0, 500.0, 50.0)
    assert (openrouter.fallbacks, openrouter.total_tokens) == (1, 10)
    now[0] += 86_400
    assert usage.tokens_today("ollama") == 0  # a new UTC day
    await usage.record(UsageRecord("ollama", 1, 1))
    assert [(u.day, u.provider) for u in await usage.recent(7)] == [
        ("2026-03-26", "ollama"), ("2026-03-25", "ollama"), ("2026-03-25", "openrouter")]
    assert [u.day for u in await usage.recent(1)] == ["2026-03-26"]


async def test_a_restart_and_other_processes_keep_the_days_total(backends: Backends) -> None:
    one, other = (await backends.open()).usage(clock=lambda: DAY), (await backends.open()).usage(clock=lambda: DAY)
    await one.record(UsageRecord("openai", 1_000, 500))
    await other.restore()
    assert other.tokens_today("openai") == 1_500
    await one.record(UsageRecord("openai", 100, 0))
    await other.record(UsageRecord("openai", 10, 0))
    assert other.tokens_today("openai") == 1_610  # its own record returns everyone's total
    restarted = (await backends.open()).usage(clock=lambda: DAY)
    await restarted.restore()
    assert restarted.tokens_today("openai") == 1_610
