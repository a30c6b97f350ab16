"""Who leads and who delivers which shard's reminders, with several processes on one PostgreSQL (the
processes here are coordinators with their own connections; tests/e2e/test_processes.py kills real ones)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest

from services.shards import Shards
from services.storage.backend import Backend, SqliteBackend
from services.storage.coordination import Coordinator, LocalCoordinator
from tests.conftest import Backends

INTERVAL = 0.2
ON_POSTGRES = pytest.mark.parametrize("backends", ["postgres"], indirect=True)


async def until(condition: Callable[[], bool], what: str, timeout: float = 5.0) -> None:
    for _ in range(int(timeout / 0.02)):
        if condition():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"not within {timeout:g} s: {what}")


@pytest.fixture
async def start(backends: Backends) -> AsyncIterator[Callable[..., object]]:
    started: list[tuple[Backend, Coordinator]] = []

    async def make(home: Shards) -> tuple[Backend, Coordinator]:
        backend = await backends.open()
        coordinator = backend.coordinator(home, interval=INTERVAL)
        await coordinator.start()
        started.append((backend, coordinator))
        return backend, coordinator

    yield make
    for _, coordinator in started:
        await coordinator.close()


async def cut_off(backend: Backend, coordinator: Coordinator) -> None:
    """The server ends the coordinator's session (a network cut, a server restart) and frees its locks."""
    await backend.db.fetchval(  # type: ignore[attr-defined]
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1",
        f"discord-llm-bot {coordinator.name}")


async def kill(backend: Backend, coordinator: Coordinator) -> None:
    """What kill -9 does: the process stops at once (no more tries) and the server ends its sessions."""
    task = coordinator._task  # type: ignore[attr-defined]
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await cut_off(backend, coordinator)


@ON_POSTGRES
async def test_one_leader_at_a_time_and_leadership_moves_when_it_goes(start) -> None:
    made = [await start(Shards.of(3, [i])) for i in range(3)]
    coordinators = [c for _, c in made]
    await until(lambda: sum(c.is_leader for c in coordinators) == 1, "one leader")
    leader = next(c for c in coordinators if c.is_leader)
    assert await coordinators[2].leader_name() == leader.name
    await asyncio.sleep(3 * INTERVAL)
    assert sum(c.is_leader for c in coordinators) == 1, "never two leaders"
    backend = next(b for b, c in made if c is leader)
    changes: list[bool] = []
    leader.on_change(lambda: changes.append(leader.is_leader))
    await kill(backend, leader)
    await until(lambda: not leader.is_leader, "the cut-off leader stops leading")
    others = [c for c in coordinators if c is not leader]
    await until(lambda: sum(c.is_leader for c in coordinators) == 1 and not leader.is_leader,
                "a new leader within a few intervals", timeout=10 * INTERVAL + 2)
    assert False in changes
    successor = next(c for c in others if c.is_leader)
    assert await successor.leader_name() == successor.name


@ON_POSTGRES
async def test_a_gone_processes_shard_is_adopted_and_given_back(start) -> None:
    _, first = await start(Shards.of(2, [0]))
    await until(lambda: first.shards.ids == {0, 1}, "shard 1 adopted while its process is not running")
    second_backend, second = await start(Shards.of(2, [1]))
    await until(lambda: first.shards.ids == {0} and second.shards.ids == {1}, "shard 1 given back to its process")
    await kill(second_backend, second)
    await until(lambda: second.shards.ids == set(), "a dead process holds nothing")
    await until(lambda: first.shards.ids == {0, 1}, "adopted again when its process dies",
                timeout=10 * INTERVAL + 2)
    _, restarted = await start(Shards.of(2, [1]))
    await until(lambda: restarted.shards.ids == {1} and first.shards.ids == {0},
                "the restarted process gets its shard back", timeout=10 * INTERVAL + 2)


@ON_POSTGRES
async def test_a_process_cut_off_for_a_moment_takes_its_place_again(start) -> None:
    _, first = await start(Shards.of(2, [0]))
    backend, second = await start(Shards.of(2, [1]))
    await until(lambda: first.shards.ids == {0} and second.shards.ids == {1}, "each its own shard")
    lost: list[frozenset[int]] = []
    second.on_change(lambda: lost.append(second.shards.ids))
    await cut_off(backend, second)
    await until(lambda: second.shards.ids == {1} and len(lost) >= 2, "back after reconnecting",
                timeout=10 * INTERVAL + 2)
    assert lost[0] == frozenset(), "the moment its session ended, it stopped delivering for the shard"


@ON_POSTGRES
async def test_closing_hands_over_at_once(start) -> None:
    _, first = await start(Shards.of(2, [0]))
    _, second = await start(Shards.of(2, [1]))
    await until(lambda: first.shards.ids == {0} and second.shards.ids == {1}, "each its own shard")
    leader, other = (first, second) if first.is_leader else (second, first)
    await leader.close()
    assert not leader.is_leader and leader.shards.ids == set()
    await until(lambda: other.is_leader and other.shards.ids == {0, 1}, "the other leads and adopts",
                timeout=10 * INTERVAL + 2)


async def test_one_process_always_leads_and_holds_its_shards(db) -> None:
    coordinator = SqliteBackend(db).coordinator(Shards.every(2))
    assert isinstance(coordinator, LocalCoordinator)
    await coordinator.start()
    assert coordinator.is_leader and coordinator.shards == Shards.every(2)
    assert await coordinator.leader_name() == coordinator.name
    await coordinator.close()
