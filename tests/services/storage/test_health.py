"""Service health rows: success/failure bookkeeping, circuits, listeners, redaction, persistence."""

from __future__ import annotations

from services.storage import Database, HealthStore


async def test_failures_count_and_success_resets(tmp_path):
    db = await Database.open(tmp_path / "bot.db")
    try:
        store = HealthStore(db, clock=lambda: 100.0)
        await store.record_failure("llm:ollama", "connection refused")
        h = await store.record_failure("llm:ollama", "connection refused", status="down")
        assert (h.status, h.consecutive_failures, h.checked_at) == ("down", 2, 100.0)
        await store.set_circuit("llm:ollama", "open", opened_at=99.0)
        h = await store.record_success("llm:ollama", 12.5)
        assert (h.status, h.consecutive_failures, h.circuit_state, h.latency_ms) == ("healthy", 0, "closed", 12.5)
        assert h.last_error == "connection refused"  # kept for context; shown only when unhealthy
    finally:
        await db.close()


async def test_listeners_hear_status_changes_only(tmp_path):
    db = await Database.open(tmp_path / "bot.db")
    changes = []

    async def listener(old, new):
        changes.append((old.status if old else None, new.status))

    try:
        store = HealthStore(db)
        store.add_listener(listener)
        await store.record_success("tts:kokoro", 5)
        await store.record_success("tts:kokoro", 6)
        await store.record_failure("tts:kokoro", "500")
        await store.record_failure("tts:kokoro", "500")
        await store.record_success("tts:kokoro", 7)
        assert changes == [(None, "healthy"), ("healthy", "down"), ("down", "healthy")]
    finally:
        await db.close()


async def test_errors_are_redacted_and_state_survives_restart(tmp_path):
    db = await Database.open(tmp_path / "bot.db")
    store = HealthStore(db)
    await store.record_failure("llm:openrouter", "401 for Authorization: Bearer sk-or-v1-abcdef1234567890")
    await store.set_circuit("llm:openrouter", "open", opened_at=1234.0)
    await db.close()
    db = await Database.open(tmp_path / "bot.db")
    try:
        h = await HealthStore(db).get("llm:openrouter")
        assert h is not None and h.circuit_state == "open" and h.circuit_opened_at == 1234.0
        assert "abcdef" not in h.last_error and "***" in h.last_error
    finally:
        await db.close()
