"""The list of probes, one per service the bot talks to, built from the services themselves.

Wiring, beside services/container.py: each service knows how to check itself; this module only says
which check is which kind (see services/health/monitor.py) and adds the database's own write-and-read
check. The gateway probe needs the Discord client, so the admin cog adds it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable

from config.settings import LLM_PROVIDERS
from services.errors import PermanentError, TransientError
from services.health.monitor import AnyProbe, Probe, ProbeResult, RecordedProbe
from services.llm import LLMRouter
from services.search import SearchServices, urban, web, wikipedia
from services.speech import SpeechServices
from services.storage import DATABASE_ERRORS, ServiceHealth
from services.storage.backend import Backend, ReadBackMismatch

DATABASE = "database"


def build_probes(*, llm: LLMRouter, search: SearchServices, speech: SpeechServices, backend: Backend,
                 timeout: float) -> list[AnyProbe]:
    return [
        llm_probe(llm, timeout),
        RecordedProbe(web.SERVICE, (web.SERVICE,), _as_list(search.web.probe)),
        RecordedProbe(wikipedia.SERVICE, (wikipedia.SERVICE,), _as_list(search.wikipedia.probe)),
        RecordedProbe(urban.SERVICE, (urban.SERVICE,), _as_list(search.urban.probe)),
        *speech_probes(speech),
        Probe(DATABASE, lambda: probe_database(backend)),
    ]


def llm_probe(llm: LLMRouter, timeout: float) -> RecordedProbe:
    """The router probes each provider and its models itself and keeps its circuits consistent.

    A provider may make two requests (OpenRouter: key, then models), each bounded by the probe
    timeout; the monitor's own timeout is only a backstop beyond that.
    """
    return RecordedProbe("llm", tuple(f"llm:{p}" for p in LLM_PROVIDERS), llm.probe,
                         timeout=2 * timeout + 1, owns_timeout=True)


def speech_probes(speech: SpeechServices) -> list[Probe]:
    """The speech clients' probes, recorded through each client's circuit breaker."""
    clients = {c.service: c for c in (speech.tts, speech.stt, speech.rvc) if c is not None}
    probes = []
    for probe in speech.probes():
        client = clients.get(probe.name)
        probes.append(dataclasses.replace(probe, breaker=client.guard.breaker) if client else probe)
    return probes


def _as_list(check: Callable[[], Awaitable[ServiceHealth]]) -> Callable[[], Awaitable[list[ServiceHealth]]]:
    async def run() -> list[ServiceHealth]:
        return [await check()]

    return run


async def probe_database(backend: Backend) -> ProbeResult:
    """A real write and read-back in one transaction (the row is removed again, so nothing accumulates):
    a database locked by another process, a full disk or an unreachable server shows here rather
    than in the middle of a user's command."""
    try:
        await backend.check()
    except ReadBackMismatch as exc:
        raise PermanentError(DATABASE, str(exc)) from exc
    except DATABASE_ERRORS as exc:
        raise TransientError(DATABASE, f"{type(exc).__name__}: {exc}") from exc
    return ProbeResult("healthy", f"{backend.kind}, {await backend.size_bytes() / 1e6:.1f} MB")
