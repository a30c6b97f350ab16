"""The monitor against a real local server that goes up, slow and down."""

from __future__ import annotations

import asyncio
import logging

import aiohttp
import pytest
from aiohttp import web

from services.errors import TransientError
from services.health.monitor import (
    HealthMonitor,
    Probe,
    ProbeResult,
    RecordedProbe,
    log_state_changes,
    worth_alerting,
)
from services.http import request_json
from services.resilience import CircuitBreaker
from services.storage import Database, ServiceHealth
from services.storage.sqlite.health import SqliteHealthStore
from services.storage.sqlite.history import SqliteHealthHistory


class FlakyServer:
    def __init__(self) -> None:
        self.mode = "up"

    async def handle(self, request: web.Request) -> web.Response:
        if self.mode == "slow":
            await asyncio.sleep(0.3)
        if self.mode == "down":
            return web.Response(status=503, text='{"error": "maintenance, key=abcd12345"}')
        return web.Response(text='{"ok": true}', content_type="application/json")


@pytest.fixture
async def server():
    flaky = FlakyServer()
    app = web.Application()
    app.router.add_get("/health", flaky.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    yield flaky, f"http://127.0.0.1:{port}"
    await runner.cleanup()


async def test_transitions_history_and_one_log_line_per_change(tmp_path, server, caplog):
    flaky, url = server
    db = await Database.open(tmp_path / "bot.db")
    store = SqliteHealthStore(db)
    store.add_listener(log_state_changes(logging.getLogger("test.health")))
    async with aiohttp.ClientSession() as session:
        async def check() -> ProbeResult:
            await request_json(session, "GET", f"{url}/health", service="tts:kokoro")
            return ProbeResult()

        monitor = HealthMonitor(store, SqliteHealthHistory(db), [Probe("tts:kokoro", check), Probe("rvc", None)],
                                interval=60, timeout=1.0, history_days=7, slow_ms=200)
        caplog.set_level(logging.INFO, logger="test.health")
        statuses = []
        for mode in ["up", "up", "slow", "down", "down", "up"]:
            flaky.mode = mode
            results = {h.service: h for h in await monitor.run_once()}
            statuses.append(results["tts:kokoro"].status)
            assert results["rvc"].status == "disabled"
        assert statuses == ["healthy", "healthy", "degraded", "down", "down", "healthy"]
        down = await store.get("tts:kokoro")
        assert down is not None and down.consecutive_failures == 0
        changes = [r.getMessage() for r in caplog.records if "tts:kokoro" in r.getMessage()]
        assert len(changes) == 4, changes  # unknown->healthy, ->degraded, ->down, ->healthy
        assert all("abcd12345" not in c for c in changes)
        history = await SqliteHealthHistory(db).recent("tts:kokoro")
        assert [s for s, _ in reversed(history)] == statuses
    await db.close()


async def test_timeout_is_reported_as_down_promptly(tmp_path):
    db = await Database.open(tmp_path / "bot.db")
    store = SqliteHealthStore(db)

    async def hangs() -> ProbeResult:
        await asyncio.sleep(30)
        return ProbeResult()

    monitor = HealthMonitor(store, SqliteHealthHistory(db), [Probe("stt:whisper", hangs)],
                            interval=60, timeout=0.2, history_days=7)
    [health] = await asyncio.wait_for(monitor.run_once(), timeout=5)
    assert health.status == "down" and "no answer within 0.2 s" in health.last_error
    await db.close()


async def test_history_is_pruned(tmp_path):
    now = [1_000_000.0]
    db = await Database.open(tmp_path / "bot.db")
    store = SqliteHealthStore(db, clock=lambda: now[0])

    async def ok() -> ProbeResult:
        return ProbeResult()

    monitor = HealthMonitor(store, SqliteHealthHistory(db), [Probe("database", ok)], interval=60, timeout=1,
                            history_days=1, clock=lambda: now[0])
    await monitor.run_once()
    now[0] += 2 * 86400
    await monitor.run_once()
    assert len(await SqliteHealthHistory(db).recent("database")) == 1
    await db.close()


# --- probe kinds, breakers, rounds, staleness, alerts filter ---------------------------------


def ok(detail: str | None = None, latency_ms: float | None = None):
    async def check() -> ProbeResult:
        return ProbeResult("healthy", detail, latency_ms)
    return check


async def test_breaker_probe_counts_failures_and_a_healthy_probe_closes_the_circuit(db):
    store = SqliteHealthStore(db)
    breaker = CircuitBreaker(store, "tts:kokoro", failure_threshold=2, cooldown=3600)
    failing = [True]

    async def check() -> ProbeResult:
        if failing[0]:
            raise TransientError("tts:kokoro", "cannot connect to 127.0.0.1:9 (Connection refused)")
        return ProbeResult("healthy", "4 voices")

    monitor = HealthMonitor(store, SqliteHealthHistory(db), [Probe("tts:kokoro", check, breaker=breaker)],
                            interval=60, timeout=1, history_days=7)
    [first] = await monitor.run_once()
    assert (first.status, first.consecutive_failures, breaker.state) == ("degraded", 1, "closed")
    [second] = await monitor.run_once()
    assert (second.status, second.circuit_state, breaker.state) == ("down", "open", "open")

    failing[0] = False
    [probed] = await monitor.run_once()
    # healthy again: closed at once, in memory and in the row alike (no hour-long cool-down)
    assert (probed.status, probed.circuit_state, breaker.state) == ("healthy", "closed", "closed")
    assert probed.consecutive_failures == 0


async def test_breaker_probe_that_answers_but_not_right_only_half_opens(db):
    store = SqliteHealthStore(db)
    breaker = CircuitBreaker(store, "tts:kokoro", failure_threshold=1, cooldown=3600)
    await breaker.record_failure("down", latency_ms=1)
    async def not_right() -> ProbeResult:
        return ProbeResult("degraded", "0 voices")

    monitor = HealthMonitor(store, SqliteHealthHistory(db), [Probe("tts:kokoro", not_right, breaker=breaker)],
                            interval=60, timeout=1, history_days=7)
    [probed] = await monitor.run_once()
    # reachable but not right: the next real call is the trial
    assert (probed.status, probed.circuit_state, breaker.state) == ("degraded", "half_open", "half_open")


async def test_breaker_probe_success_on_a_closed_circuit_forgets_old_failures(db):
    store = SqliteHealthStore(db)
    breaker = CircuitBreaker(store, "rvc", failure_threshold=3, cooldown=30)
    await breaker.record_failure("one bad request", latency_ms=5)
    monitor = HealthMonitor(store, SqliteHealthHistory(db), [Probe("rvc", ok("2 models"), breaker=breaker)],
                            interval=60, timeout=1, history_days=7)
    [health] = await monitor.run_once()
    assert (health.status, health.consecutive_failures, health.detail) == ("healthy", 0, "2 models")
    assert breaker.failures == 0
    [again] = await monitor.run_once()  # written every round, so it never looks stale
    assert again.checked_at >= health.checked_at and len(await SqliteHealthHistory(db).recent("rvc")) == 2


async def test_recorded_probe_rows_are_the_checks_own_with_history_added(db):
    store = SqliteHealthStore(db)

    async def router_probe() -> list:
        return [await store.record_success("llm:ollama", 12, detail="models ok: llama3.2"),
                await store.record_disabled("llm:openai", "not configured: set OPENAI_BASE_URL")]

    monitor = HealthMonitor(store, SqliteHealthHistory(db),
                            [RecordedProbe("llm", ("llm:ollama", "llm:openai"), router_probe)],
                            interval=60, timeout=1, history_days=7)
    results = await monitor.run_once()
    assert [(h.service, h.status) for h in results] == [("llm:ollama", "healthy"), ("llm:openai", "disabled")]
    stored = await store.get("llm:ollama")
    assert stored is not None and stored.latency_ms == 12 and stored.consecutive_failures == 0
    assert [s for s, _ in await SqliteHealthHistory(db).recent("llm:ollama")] == ["healthy"]
    assert monitor.services == ["llm:ollama", "llm:openai"]


async def test_recorded_probe_timeout_is_recorded_unless_the_check_owns_its_rows(db, caplog):
    store = SqliteHealthStore(db)

    async def hangs() -> list:
        await asyncio.sleep(30)
        return []

    monitor = HealthMonitor(store, SqliteHealthHistory(db), [
        RecordedProbe("search:wikipedia", ("search:wikipedia",), hangs),
        RecordedProbe("llm", ("llm:ollama",), hangs, timeout=0.2, owns_timeout=True),
    ], interval=60, timeout=0.2, history_days=7)
    caplog.set_level(logging.WARNING, logger="services.health.monitor")
    results = await asyncio.wait_for(monitor.run_once(), timeout=5)
    assert [(h.service, h.status) for h in results] == [("search:wikipedia", "down")]
    assert await store.get("llm:ollama") is None
    assert any("llm did not finish within 0.2 s" in r.getMessage() for r in caplog.records)


async def test_gateway_style_latency_and_slow_answer(db):
    store = SqliteHealthStore(db)
    monitor = HealthMonitor(store, SqliteHealthHistory(db), [
        Probe("discord:gateway", ok(latency_ms=42.0)),
        Probe("slow", ok(latency_ms=900.0)),
    ], interval=60, timeout=1, history_days=7, slow_ms=500)
    gateway, slow = await monitor.run_once()
    assert (gateway.status, gateway.latency_ms) == ("healthy", 42.0)
    assert (slow.status, slow.last_error) == ("degraded", "slow: 900 ms")


async def test_a_crashing_probe_is_logged_and_does_not_hide_the_others(db, caplog):
    async def buggy() -> ProbeResult:
        raise KeyError("oops")

    monitor = HealthMonitor(SqliteHealthStore(db), SqliteHealthHistory(db), [Probe("buggy", buggy), Probe("database", ok())],
                            interval=60, timeout=1, history_days=7)
    caplog.set_level(logging.ERROR, logger="services.health.monitor")
    results = await monitor.run_once()
    assert [h.service for h in results] == ["database"]
    assert any("Health probe buggy crashed" in r.getMessage() for r in caplog.records)


async def test_concurrent_rounds_are_one_round(db):
    calls = 0
    release = asyncio.Event()

    async def check() -> ProbeResult:
        nonlocal calls
        calls += 1
        await release.wait()
        return ProbeResult()

    monitor = HealthMonitor(SqliteHealthStore(db), SqliteHealthHistory(db), [Probe("database", check)],
                            interval=60, timeout=5, history_days=7)
    first = asyncio.ensure_future(monitor.run_once())
    second = asyncio.ensure_future(monitor.run_once())
    await asyncio.sleep(0)
    release.set()
    assert await first == await second
    assert calls == 1


async def test_loop_probes_repeatedly_and_stops_cleanly(db):
    rounds = asyncio.Condition()
    count = 0

    async def check() -> ProbeResult:
        nonlocal count
        async with rounds:
            count += 1
            rounds.notify_all()
        return ProbeResult()

    monitor = HealthMonitor(SqliteHealthStore(db), SqliteHealthHistory(db), [Probe("database", check)],
                            interval=0.02, timeout=1, history_days=7)
    monitor.start()
    async with rounds:
        await asyncio.wait_for(rounds.wait_for(lambda: count >= 3), timeout=5)
    assert monitor.running
    await monitor.stop()
    assert not monitor.running and monitor.last_round_at is not None


async def test_stale_means_a_previous_run_or_older_than_two_intervals(db):
    now = [1_000_000.0]
    monitor = HealthMonitor(SqliteHealthStore(db), SqliteHealthHistory(db), [], interval=60, timeout=1, history_days=7,
                            clock=lambda: now[0])
    assert monitor.is_stale(ServiceHealth("tts:kokoro", "healthy", checked_at=now[0] - 5))  # before start-up
    now[0] += 10
    assert not monitor.is_stale(ServiceHealth("tts:kokoro", "healthy", checked_at=now[0] - 1))
    now[0] += 200
    assert monitor.is_stale(ServiceHealth("tts:kokoro", "healthy", checked_at=now[0] - 121))
    assert not monitor.is_stale(ServiceHealth("tts:kokoro", "healthy", checked_at=now[0] - 119))


async def test_change_listeners_hear_probes_and_real_traffic_until_unsubscribed(db):
    store = SqliteHealthStore(db)
    monitor = HealthMonitor(store, SqliteHealthHistory(db), [Probe("database", ok())], interval=60, timeout=1,
                            history_days=7)
    heard: list[tuple[str | None, str]] = []

    async def listener(old: ServiceHealth | None, new: ServiceHealth) -> None:
        heard.append((old.status if old else None, new.status))

    unsubscribe = monitor.on_change(listener)
    await monitor.run_once()
    await store.record_failure("database", "disk I/O error")  # real traffic, not a probe
    unsubscribe()
    await monitor.run_once()
    assert heard == [(None, "healthy"), ("healthy", "down")]


@pytest.mark.parametrize(("old", "new", "expected"), [
    (None, "healthy", False), (None, "disabled", False), ("unknown", "healthy", False),
    (None, "down", True), ("healthy", "degraded", True), ("degraded", "down", True), ("down", "healthy", True),
    ("healthy", "healthy", False), ("down", "down", False), ("disabled", "healthy", False),
])
def test_worth_alerting(old, new, expected):
    before = ServiceHealth("x", old) if old else None
    assert worth_alerting(before, ServiceHealth("x", new)) is expected


async def test_only_the_leader_probes_the_services_and_prunes(db):
    """With several processes, a follower probes only what is its own (its gateway connection); the
    leader probes everything and prunes the history; /health refresh:true probes everything anywhere."""
    now = [1_000_000.0]
    leading = [False]
    probed: list[str] = []

    def check(name: str):
        async def run() -> ProbeResult:
            probed.append(name)
            return ProbeResult()
        return run

    store, history = SqliteHealthStore(db, clock=lambda: now[0]), SqliteHealthHistory(db)
    await history.add(ServiceHealth("old", "healthy", checked_at=now[0] - 30 * 86400))
    monitor = HealthMonitor(store, history, [Probe("tts:kokoro", check("tts")), Probe("database", check("db")),
                                             Probe("discord:gateway:1", check("gateway"), local=True)],
                            interval=60, timeout=1, history_days=7, clock=lambda: now[0],
                            leader=lambda: leading[0], shared=True)
    await monitor.run_once()
    assert probed == ["gateway"]
    assert await history.recent("old") != [], "a follower does not prune"
    probed.clear()
    await monitor.run_once(everything=True)
    assert sorted(probed) == ["db", "gateway", "tts"]
    leading[0] = True
    probed.clear()
    await monitor.run_once()
    assert sorted(probed) == ["db", "gateway", "tts"]
    assert await history.recent("old") == []
    # Rows another process wrote before this one started are not stale for that reason alone.
    assert not monitor.is_stale(ServiceHealth("tts:kokoro", "healthy", checked_at=now[0] - 5), now[0])
