"""The probe list built from the real services, against local servers speaking each API."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable

import aiohttp
import asyncpg
import pytest

from config.settings import LLM_PROVIDERS, load_settings
from devtools.fakes.search_servers import FakeSearchServers
from devtools.fakes.speech_servers import FakeKokoro, Fault
from devtools.testenv import CLOSED_PORT_URL, bot_test_env
from services.container import Services
from services.errors import ServiceError
from services.llm import AllProvidersFailed, Message
from services.probes import probe_database
from services.storage import Database, ServiceHealth
from services.storage.backend import SqliteBackend

EVERY_SERVICE = {*(f"llm:{p}" for p in LLM_PROVIDERS), "tts:kokoro", "stt:whisper", "rvc", "search:web",
                 "search:wikipedia", "search:urban", "database"}

MakeServices = Callable[..., Awaitable[Services]]


@pytest.fixture
async def make_services(tmp_path) -> AsyncIterator[MakeServices]:
    made: list[tuple[Services, aiohttp.ClientSession, Database]] = []

    async def make(**env: str) -> Services:
        settings = load_settings({**bot_test_env(tmp_path / "bot.db"), **env}, require_token=False)
        db = await Database.open(settings.database_path)
        session = aiohttp.ClientSession()
        services = Services(settings, session, SqliteBackend(db))
        await services.start()
        made.append((services, session, db))
        return services

    yield make
    for services, session, db in made:
        await services.close()
        await session.close()
        await db.close()


@pytest.fixture
async def search() -> AsyncIterator[FakeSearchServers]:
    async with FakeSearchServers() as servers:
        servers.add_wiki_page("Wikipedia", "Wikipedia is a free online encyclopedia.")
        yield servers


@pytest.fixture
async def kokoro() -> AsyncIterator[FakeKokoro]:
    async with FakeKokoro() as server:
        yield server


def by_name(rows: list[ServiceHealth]) -> dict[str, ServiceHealth]:
    return {h.service: h for h in rows}


async def test_every_service_is_probed_and_unconfigured_ones_are_disabled(make_services, llm, search, kokoro):
    services = await make_services(OLLAMA_HOST=llm.url, OLLAMA_MODEL="llama3.2:1b", KOKORO_API_URL=kokoro.url,
                                   HEALTH_PROBE_TIMEOUT="5", **search.settings_env())  # slow = over 2.5 s
    assert set(services.monitor.services) == EVERY_SERVICE
    results = by_name(await services.monitor.run_once())
    assert set(results) == EVERY_SERVICE
    statuses = {name: h.status for name, h in results.items()}
    assert statuses == {
        "llm:ollama": "healthy", "llm:openrouter": "disabled", "llm:openai": "disabled",
        "tts:kokoro": "healthy", "stt:whisper": "disabled", "rvc": "disabled",
        "search:web": "disabled", "search:wikipedia": "healthy", "search:urban": "healthy",
        "database": "healthy",
    }
    assert "llama3.2:1b" in (results["llm:ollama"].detail or "")
    assert results["stt:whisper"].detail == "WHISPER_API_URL is empty"
    assert kokoro.count("health") == 1 and kokoro.count("voices") == 1
    assert len(search.requests_to("urban")) == 1
    for name in EVERY_SERVICE:  # history for every probe, disabled ones included
        assert len(await services.monitor.history.recent(name)) == 1, name


async def test_llm_rows_are_written_by_the_router_alone(make_services):
    services = await make_services(OLLAMA_HOST=CLOSED_PORT_URL, LLM_CIRCUIT_FAILURE_THRESHOLD="3")
    for expected_failures in (1, 2):
        ollama = by_name(await services.monitor.run_once())["llm:ollama"]
        # counted once per round: the monitor adds no failure of its own to the router's
        assert (ollama.status, ollama.consecutive_failures) == ("degraded", expected_failures)
        assert "cannot connect" in (ollama.last_error or "")
    assert services.llm.breakers["ollama"].failures == 2


async def test_speech_probe_goes_through_the_clients_circuit(make_services, kokoro):
    services = await make_services(KOKORO_API_URL=kokoro.url, LLM_CIRCUIT_FAILURE_THRESHOLD="2",
                                   LLM_CIRCUIT_COOLDOWN="3600")
    assert services.tts is not None
    breaker = services.tts.guard.breaker
    assert breaker is not None
    kokoro.script("health", *[Fault(status=503, json_body={"detail": "model loading"})] * 2)
    for _ in range(2):
        await services.monitor.run_once()
    row = await services.health.get("tts:kokoro")
    assert row is not None and (row.status, row.circuit_state, breaker.state) == ("down", "open", "open")
    with pytest.raises(ServiceError):  # real traffic is refused while the circuit is open
        await services.tts.synthesize("hello")
    assert kokoro.count("speech") == 0

    row = by_name(await services.monitor.run_once())["tts:kokoro"]  # healthy again: closed at once
    assert (row.status, row.circuit_state, breaker.state) == ("healthy", "closed", "closed")
    await services.tts.synthesize("hello")
    assert kokoro.count("speech") == 1


async def test_hanging_search_source_is_down_after_the_probe_timeout(make_services, search):
    services = await make_services(HEALTH_PROBE_TIMEOUT="1", **search.settings_env())
    search.slow("wiki_summary", 30)
    results = by_name(await asyncio.wait_for(services.monitor.run_once(), timeout=10))
    assert results["search:wikipedia"].status == "down"
    assert results["search:wikipedia"].last_error == "no answer within 1 s"
    assert results["search:urban"].status == "healthy"


async def test_real_traffic_updates_the_same_state_and_listeners(make_services):
    services = await make_services(OLLAMA_HOST=CLOSED_PORT_URL, API_RETRY_ATTEMPTS="1")
    changes: list[tuple[str, str]] = []

    async def listener(old: ServiceHealth | None, new: ServiceHealth) -> None:
        changes.append((new.service, new.status))

    services.monitor.on_change(listener)
    with pytest.raises(AllProvidersFailed):
        await services.llm.chat([Message("user", "hi")], use_cache=False)
    row = await services.health.get("llm:ollama")
    assert row is not None and row.status in ("degraded", "down") and row.consecutive_failures == 1
    assert changes == [("llm:ollama", row.status)]


async def test_database_probe_writes_reads_and_leaves_nothing(backend):
    result = await probe_database(backend)
    assert result.status == "healthy" and result.detail is not None
    assert result.detail.startswith(backend.kind) and result.detail.endswith("MB")
    cache = backend.cache()
    stats = await cache.stats()
    assert (stats.entries, stats.hits, stats.misses) == (0, 0, 0)
    assert await cache.namespaces() == []


@pytest.mark.parametrize("backends", ["postgres"], indirect=True)
async def test_database_probe_fails_when_postgresql_is_gone(backends, postgres):
    backend = await backends.open()
    admin = await asyncpg.connect(postgres.dsn())
    try:  # what a server restart does to the pool's connections
        await admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1",
                            backends.dsn.rsplit("/", 1)[1])
    finally:
        await admin.close()
    first = None
    for _ in range(3):  # the pool replaces dead connections: the probe recovers by itself
        try:
            first = await probe_database(backend)
            break
        except ServiceError as exc:
            assert exc.transient and "PostgreSQL" in exc.cause
    assert first is not None and first.status == "healthy"


async def test_database_probe_fails_when_another_process_holds_the_write_lock(tmp_path):
    db = await Database.open(tmp_path / "bot.db", busy_timeout_ms=50)
    other = sqlite3.connect(tmp_path / "bot.db", isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        with pytest.raises(ServiceError, match="locked"):
            await probe_database(SqliteBackend(db))
        other.execute("ROLLBACK")
        assert (await probe_database(SqliteBackend(db))).status == "healthy"
    finally:
        other.close()
        await db.close()
