"""The list of probes, one per service the bot talks to, built from the services themselves.

Wiring, beside services/container.py: each service knows how to check itself; this module only says
which check is which kind (see services/health/monitor.py) and adds the database's own write-and-read
check. The gateway probe needs the Discord client, so the admin cog adds it.
"""

from __future__ import annotations

import dataclasses
import json
import secrets
import sqlite3
import time
from collections.abc import Awaitable, Callable

from config.settings import LLM_PROVIDERS
from services.errors import PermanentError, TransientError
from services.health.monitor import AnyProbe, Probe, ProbeResult, RecordedProbe
from services.llm import LLMRouter
from services.search import SearchServices, urban, web, wikipedia
from services.speech import SpeechServices
from services.storage import Database, ServiceHealth

DATABASE = "database"
PROBE_NAMESPACE = "health:probe"


def build_probes(*, llm: LLMRouter, search: SearchServices, speech: SpeechServices, db: Database,
                 timeout: float) -> list[AnyProbe]:
    return [
        llm_probe(llm, timeout),
        RecordedProbe(web.SERVICE, (web.SERVICE,), _as_list(search.web.probe)),
        RecordedProbe(wikipedia.SERVICE, (wikipedia.SERVICE,), _as_list(search.wikipedia.probe)),
        RecordedProbe(urban.SERVICE, (urban.SERVICE,), _as_list(search.urban.probe)),
        *speech_probes(speech),
        Probe(DATABASE, lambda: probe_database(db)),
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


async def probe_database(db: Database, *, clock: Callable[[], float] = time.time) -> ProbeResult:
    """A real write and read in one transaction (the row is removed again, so nothing accumulates).

    BEGIN IMMEDIATE takes the write lock, so a database locked by another process or a full disk
    shows here rather than in the middle of a user's command.
    """
    token = secrets.token_hex(8)
    now = clock()
    try:
        async with db.transaction() as conn:
            await conn.execute(
                "INSERT INTO cache (namespace, key, value, created_at, expires_at) VALUES (?, 'write-read', ?, ?, ?) "
                "ON CONFLICT (namespace, key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at",
                (PROBE_NAMESPACE, json.dumps(token), now, now + 60))
            cursor = await conn.execute("SELECT value FROM cache WHERE namespace = ? AND key = 'write-read'",
                                        (PROBE_NAMESPACE,))
            row = await cursor.fetchone()
            await conn.execute("DELETE FROM cache WHERE namespace = ?", (PROBE_NAMESPACE,))
    except sqlite3.Error as exc:
        raise TransientError(DATABASE, f"{type(exc).__name__}: {exc}") from exc
    if row is None or json.loads(row[0]) != token:
        raise PermanentError(DATABASE, "read back something other than what was just written")
    return ProbeResult("healthy", f"{await db.size_bytes() / 1e6:.1f} MB")
