"""Service health rows on both backends: success/failure bookkeeping, circuits, listeners, redaction,
persistence, and (PostgreSQL) what one process writes reaching the others."""

from __future__ import annotations

import asyncio

import pytest

from services.storage import ServiceHealth
from services.storage.backend import Backend
from tests.conftest import Backends


async def test_failures_count_and_success_resets(backend: Backend) -> None:
    store = backend.health(clock=lambda: 100.0)
    await store.record_failure("llm:ollama", "connection refused")
    h = await store.record_failure("llm:ollama", "connection refused", status="down")
    assert (h.status, h.consecutive_failures, h.checked_at) == ("down", 2, 100.0)
    await store.set_circuit("llm:ollama", "open", opened_at=99.0)
    h = await store.record_success("llm:ollama", 12.5)
    assert (h.status, h.consecutive_failures, h.circuit_state, h.latency_ms) == ("healthy", 0, "closed", 12.5)
    assert h.last_error == "connection refused"  # kept for context; shown only when unhealthy
    assert await store.get("llm:ollama") == h
    assert [r.service for r in await store.all()] == ["llm:ollama"]


async def test_listeners_hear_status_changes_only(backend: Backend) -> None:
    changes = []

    async def listener(old, new):
        changes.append((old.status if old else None, new.status))

    store = backend.health()
    store.add_listener(listener)
    await store.record_success("tts:kokoro", 5)
    await store.record_success("tts:kokoro", 6)
    await store.record_failure("tts:kokoro", "500")
    await store.record_failure("tts:kokoro", "500")
    await store.record_success("tts:kokoro", 7)
    assert changes == [(None, "healthy"), ("healthy", "down"), ("down", "healthy")]


async def test_errors_are_redacted_and_state_survives_restart(backends: Backends) -> None:
    first = await backends.open()
    store = first.health()
    await store.record_failure("llm:openrouter", "401 for Authorization: Bearer sk-or-v1-abcdef1234567890")
    await store.set_circuit("llm:openrouter", "open", opened_at=1234.0)
    await first.close()
    h = await (await backends.open()).health().get("llm:openrouter")
    assert h is not None and h.circuit_state == "open" and h.circuit_opened_at == 1234.0
    assert "abcdef" not in h.last_error and "***" in h.last_error


async def test_a_bad_state_is_refused(backend: Backend) -> None:
    store = backend.health()
    with pytest.raises(ValueError, match="unknown status"):
        await store.put(ServiceHealth("x", status="sleepy"))
    with pytest.raises(ValueError, match="unknown circuit state"):
        await store.put(ServiceHealth("x", circuit_state="ajar"))
    assert await store.get("x") is None


@pytest.mark.parametrize("backends", ["postgres"], indirect=True)
async def test_another_process_hears_each_write_and_each_status_change(backends: Backends) -> None:
    """PostgreSQL: a write by one process reaches the others' watchers (breakers re-read the row), and
    a change of status their listeners added with everywhere=True (the leader's alerts); never their own."""
    one, other = await backends.open(), await backends.open()
    writer, reader = one.health(), other.health()
    await one.start()
    await other.start()
    watched: list[str] = []
    changes: list[tuple[str | None, str]] = []
    own: list[str] = []
    heard = asyncio.Event()

    async def watcher(service: str) -> None:
        watched.append(service)
        heard.set()

    async def listener(old: ServiceHealth | None, new: ServiceHealth) -> None:
        changes.append((old.status if old else None, new.status))

    async def own_watcher(service: str) -> None:
        own.append(service)

    reader.watch(watcher)
    reader.add_listener(listener, everywhere=True)
    writer.watch(own_watcher)

    async def written(action) -> None:
        heard.clear()
        await action
        await asyncio.wait_for(heard.wait(), 5)

    await written(writer.record_success("llm:ollama", 10))
    await written(writer.record_success("llm:ollama", 11))
    await written(writer.record_failure("llm:ollama", "refused", status="down"))
    await written(writer.set_circuit("llm:ollama", "open", opened_at=5.0))
    assert watched == ["llm:ollama"] * 4
    assert changes == [(None, "healthy"), ("healthy", "down")]
    assert own == [], "a process must not hear its own writes as another's"
    assert (await reader.get("llm:ollama")).circuit_state == "open"
