"""The health probe of one provider, kept consistent with its circuit breaker.

Reachable, key accepted and every model there: the circuit closes at once (a provider that came back
is used again without waiting out its cool-down). Reachable but a model missing: degraded, and an
open circuit only becomes half-open, so the next real call is the trial. Unreachable: a failure.
"""

from __future__ import annotations

import asyncio

from services.errors import ServiceError
from services.llm.base import LLMProvider
from services.llm.errors import AuthFailed, OutOfCredit
from services.resilience import CircuitBreaker
from services.storage import HealthStore, ServiceHealth


async def probe_provider(provider: LLMProvider, breaker: CircuitBreaker, models: list[str], *,
                         health: HealthStore, timeout: float) -> ServiceHealth:
    loop = asyncio.get_running_loop()
    started = loop.time()
    try:
        missing = await provider.probe(models, timeout=timeout)
    except ServiceError as exc:
        await breaker.record_failure(exc, latency_ms=(loop.time() - started) * 1000,
                                     trip=isinstance(exc, (AuthFailed, OutOfCredit)))
        return await _row(health, provider.service)
    latency = (loop.time() - started) * 1000
    if not missing:
        await breaker.record_success(latency, detail=f"models ok: {', '.join(models)}")
        return await _row(health, provider.service)
    detail = f"model not on the server: {', '.join(missing)}"
    if provider.name == "ollama":
        detail += f" (run: ollama pull {missing[0]})"
    return await breaker.record_probe(latency, detail=detail, degraded=True)


async def _row(health: HealthStore, service: str) -> ServiceHealth:
    row = await health.get(service)
    assert row is not None, "the breaker has just written it"
    return row
