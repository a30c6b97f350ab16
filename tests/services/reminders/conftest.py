"""Fixtures for the reminder tests: a real database (each test runs on SQLite and on PostgreSQL), a
clock the test moves by hand."""

from __future__ import annotations

import asyncio
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from services.reminders import DeliveryResult, DueReminder, ReminderStore
from services.storage.backend import Backend

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
UTC_ZONE = ZoneInfo("UTC")
# Wednesday 2026-03-25 10:15 in Berlin (CET, UTC+1), four days before the spring-forward change.
FIXED_NOW = datetime(2026, 3, 25, 10, 15, tzinfo=BERLIN)
WAIT = 5.0  # generous upper bound for waits on a busy 2-core machine; normally milliseconds


class FakeClock:
    """A wall clock that only moves when the test says; sleepers wake once it passes their deadline."""

    def __init__(self, start: float) -> None:
        self.now = start
        self._changed = asyncio.Condition()
        self.deadlines: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, delay: float) -> None:
        deadline = self.now + delay
        async with self._changed:
            self.deadlines.append(deadline)
            self._changed.notify_all()
            try:
                await self._changed.wait_for(lambda: self.now >= deadline - 1e-6)
            finally:
                self.deadlines.remove(deadline)

    async def wait_for_sleeper(self, deadline: float) -> None:
        """Until something sleeps until `deadline`."""
        async with self._changed:
            await asyncio.wait_for(
                self._changed.wait_for(lambda: any(abs(d - deadline) < 1e-6 for d in self.deadlines)), WAIT)

    async def advance(self, seconds: float) -> None:
        self.now += seconds
        async with self._changed:
            self._changed.notify_all()

    async def advance_to(self, when: float) -> None:
        await self.advance(max(0.0, when - self.now))


class Recorder:
    """A deliver callable: records each call and answers from a script (default: delivered)."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.calls: list[tuple[float, DueReminder]] = []
        self.results: dict[int, list[DeliveryResult]] = {}  # reminder id -> answers to give in order
        self._changed = asyncio.Condition()

    async def __call__(self, due: DueReminder) -> DeliveryResult:
        self.calls.append((self.clock.now, due))
        async with self._changed:
            self._changed.notify_all()
        script = self.results.get(due.reminder.id)
        if script:
            return script.pop(0)
        return DeliveryResult.sent("channel")

    async def wait_for_calls(self, count: int) -> None:
        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(lambda: len(self.calls) >= count), WAIT)

    def ids(self) -> list[int]:
        return [due.reminder.id for _, due in self.calls]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(FIXED_NOW.timestamp())


@pytest.fixture
def store(backend: Backend, clock: FakeClock) -> ReminderStore:
    return backend.reminders(clock=clock)


@pytest.fixture
def recorder(clock: FakeClock) -> Recorder:
    return Recorder(clock)
