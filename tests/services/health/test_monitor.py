"""The monitor against a real local server that goes up, slow and down."""

from __future__ import annotations

import asyncio
import logging

import aiohttp
import pytest
from aiohttp import web

from services.health.monitor import HealthHistory, HealthMonitor, Probe, ProbeResult, log_state_changes
from services.http import request_json
from services.storage import Database, HealthStore


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
    store = HealthStore(db)
    store.add_listener(log_state_changes(logging.getLogger("test.health")))
    async with aiohttp.ClientSession() as session:
        async def check() -> ProbeResult:
            await request_json(session, "GET", f"{url}/health", service="tts:kokoro")
            return ProbeResult()

        monitor = HealthMonitor(store, HealthHistory(db), [Probe("tts:kokoro", check), Probe("rvc", None)],
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
        history = await HealthHistory(db).recent("tts:kokoro")
        assert [s for s, _ in reversed(history)] == statuses
    await db.close()


async def test_timeout_is_reported_as_down_promptly(tmp_path):
    db = await Database.open(tmp_path / "bot.db")
    store = HealthStore(db)

    async def hangs() -> ProbeResult:
        await asyncio.sleep(30)
        return ProbeResult()

    monitor = HealthMonitor(store, HealthHistory(db), [Probe("stt:whisper", hangs)],
                            interval=60, timeout=0.2, history_days=7)
    [health] = await asyncio.wait_for(monitor.run_once(), timeout=5)
    assert health.status == "down" and "no answer within 0.2 s" in health.last_error
    await db.close()


async def test_history_is_pruned(tmp_path):
    now = [1_000_000.0]
    db = await Database.open(tmp_path / "bot.db")
    store = HealthStore(db, clock=lambda: now[0])

    async def ok() -> ProbeResult:
        return ProbeResult()

    monitor = HealthMonitor(store, HealthHistory(db), [Probe("database", ok)], interval=60, timeout=1,
                            history_days=1, clock=lambda: now[0])
    await monitor.run_once()
    now[0] += 2 * 86400
    await monitor.run_once()
    assert len(await HealthHistory(db).recent("database")) == 1
    await db.close()
