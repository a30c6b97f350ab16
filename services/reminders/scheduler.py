"""The one task that delivers reminders: it sleeps until the next due one, never polls.

Memory holds only the next due time (plus the batch being delivered), whatever the number of
pending reminders. `notify()` wakes the task when a sooner reminder is added or the next one is
cancelled. Each delivery is committed right after the deliver callable returns, in the same
transaction that advances a recurring reminder; deliveries that finish together share one commit
(group commit), so 1,000 due at once cost a few transactions, not a thousand. A duplicate is
possible only if the process dies after Discord accepted a message and before that commit.
Due reminders are delivered in batches (bounded concurrency inside one); one falling due while a
batch is out waits for that batch, which `deliver_timeout` bounds.

With several processes (PostgreSQL), each scheduler works on the shards its process holds
(`shards`): due reminders are claimed for this scheduler (`claim`) before delivery, the claim is
renewed while the batch is out and fences the outcome, and a clean stop gives back what it claimed
and did not finish. Each delivery carries the reminder's nonce, so Discord drops a repeat of a
message it already accepted (a process killed between Discord's answer and the commit).

A failed attempt is retried with exponential backoff until `max_attempts`, then a one-off reminder
is marked failed with the reason; a recurring one skips to its next occurrence (it is marked failed
only when the cog reports a permanent failure, i.e. nowhere left to deliver).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import secrets
import socket
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from services.redact import redact
from services.reminders.commits import GroupCommit
from services.reminders.models import DeliveryResult, DueReminder, Outcome, Reminder
from services.reminders.store import ReminderStore
from services.shards import ALL, Shards
from services.storage import DATABASE_ERRORS

log = logging.getLogger(__name__)

Deliver = Callable[[DueReminder], Awaitable[DeliveryResult]]
Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]

MAX_ERROR_CHARS = 300
_DB_RETRY_DELAY = 5.0


@dataclass(frozen=True)
class SchedulerStats:
    delivered: int
    retried: int
    failed: int
    skipped: int  # occurrences of recurring reminders given up after max attempts
    withdrawn: int  # cancelled at delivery: the owner was no longer in the reminder's server
    lateness_p50: float | None  # seconds, over the last `window` deliveries
    lateness_p99: float | None
    lateness_max: float | None
    next_due_at: float | None


class ReminderScheduler:
    """Start with `start()`, stop with `await stop()`; call `notify(due_at)` after adding or cancelling."""

    def __init__(self, store: ReminderStore, deliver: Deliver, *, max_attempts: int,
                 clock: Clock = time.time, sleep: Sleep = asyncio.sleep, batch_size: int = 1_000,
                 concurrency: int = 20, deliver_timeout: float = 60.0, retry_delay: float = 60.0,
                 retry_max_delay: float = 900.0, max_sleep: float = 600.0, window: int = 1_000,
                 shards: Callable[[], Shards] = lambda: ALL, claim: str | None = None, lease: float = 15.0,
                 lookahead: float = 0.0) -> None:
        self._store = store
        # Wake and claim this long before the next due time, then deliver each on the dot: the claim
        # (tens of ms for a thousand rows) is not added to the lateness.
        self._lookahead = lookahead
        self._shards = shards
        # Unique per scheduler run: a restarted process never mistakes an old claim for its own.
        self.claim = claim or f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
        self._lease = lease
        self._deliver = deliver
        self._max_attempts = max_attempts
        self._clock = clock
        self._sleep = sleep
        self._batch_size = batch_size
        self._concurrency = concurrency
        self._deliver_timeout = deliver_timeout
        self._retry_delay = retry_delay
        self._retry_max_delay = retry_max_delay
        # Only a guard against wall-clock jumps and host suspend (the event-loop clock stops then).
        self._max_sleep = max_sleep
        self._wake = asyncio.Event()
        self._commits = GroupCommit(lambda outcomes: store.apply(outcomes, claim=self.claim))
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._next_due_at: float | None = None
        self._lateness: deque[float] = deque(maxlen=window)
        self._counts = {"delivered": 0, "retried": 0, "failed": 0, "skipped": 0, "withdrawn": 0}
        self._idle = False  # sleeping, with everything notified so far taken into account
        self._state_changed = asyncio.Condition()

    # --- control -----------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    @property
    def next_due_at(self) -> float | None:
        """Due time the task is sleeping until (None: nothing pending, or busy)."""
        return self._next_due_at

    async def wait_idle(self) -> None:
        """Until the task has handled every change made before this call and sleeps again.

        For tests and tools (pair it with a timeout): after notify() or after the clock passed the
        next due time, this returns only once the task has delivered what was due.
        """
        async with self._state_changed:
            await self._state_changed.wait_for(
                lambda: self._idle and (self._next_due_at is None or self._next_due_at > self._clock()))

    def start(self) -> None:
        if self.running:
            return
        self._stopping = False
        self._task = asyncio.create_task(self._run(), name="reminder-scheduler")
        self._task.add_done_callback(self._finished)

    async def stop(self, grace: float = 10.0) -> None:
        """Let an in-flight batch finish (up to `grace` seconds), then cancel."""
        task, self._task = self._task, None
        if task is None or task.done():
            return
        self._stopping = True
        self._wake.set()
        done, _ = await asyncio.wait({task}, timeout=grace)
        if not done:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._idle = False
        self._next_due_at = None
        try:  # what was delivered is recorded; what was claimed and not delivered goes back
            await self._commits.flush()
            released = await self._store.release(self.claim)
        except DATABASE_ERRORS as exc:
            log.warning("Could not give back claimed reminders at stop (%s); their claims expire in %.0f s",
                        exc, self._lease)
        else:
            if released:
                log.info("Gave back %d claimed reminders not yet delivered", released)

    def notify(self, due_at: float | None = None) -> None:
        """A reminder due at `due_at` was added or cancelled; wake up if that changes the next wake time."""
        if not self._idle:
            self._wake.set()  # busy: it re-reads the next due time before sleeping
            return
        if due_at is None or self._next_due_at is None or due_at <= self._next_due_at:
            self._idle = False
            self._wake.set()

    def stats(self) -> SchedulerStats:
        late = sorted(self._lateness)

        def pick(q: float) -> float | None:  # nearest-rank percentile
            return late[max(0, math.ceil(q * len(late)) - 1)] if late else None

        return SchedulerStats(**self._counts, lateness_p50=pick(0.5), lateness_p99=pick(0.99),
                              lateness_max=late[-1] if late else None, next_due_at=self._next_due_at)

    def _finished(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.error("Reminder scheduler stopped on an error; reminders are not delivered until restart",
                      exc_info=task.exception())

    # --- loop --------------------------------------------------------------------------------

    async def _run(self) -> None:
        log.info("Reminder scheduler started")
        while not self._stopping:
            self._wake.clear()
            self._idle = False
            self._next_due_at = None
            try:
                await self._commits.flush()
                batch = await self._store.claim_due(self._clock() + self._lookahead, self._batch_size,
                                                    shards=self._shards(), claim=self.claim, lease=self._lease)
                if batch:
                    await self._deliver_batch(batch)
                    continue
                next_due = await self._store.next_due_at(self._shards())
            except DATABASE_ERRORS:
                log.exception("Reminder database error; trying again in %.0f s", _DB_RETRY_DELAY)
                await self._wait(_DB_RETRY_DELAY)
                continue
            if self._wake.is_set() or self._stopping:
                continue  # something changed while we looked
            self._next_due_at = next_due
            delay = (None if next_due is None
                     else min(max(0.0, next_due - self._lookahead - self._clock()), self._max_sleep))
            async with self._state_changed:
                self._idle = not self._wake.is_set()
                self._state_changed.notify_all()
            await self._wait(delay)
        log.info("Reminder scheduler stopped")

    async def _wait(self, delay: float | None) -> None:
        """Until `delay` passes or notify()/stop() is called."""
        if delay is not None and delay <= 0:
            return
        waiters: set[asyncio.Future[object]] = {asyncio.ensure_future(self._wake.wait())}
        if delay is not None:
            waiters.add(asyncio.ensure_future(self._sleep(delay)))
        try:
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()

    async def _deliver_batch(self, batch: list[Reminder]) -> None:
        """`concurrency` workers take the batch in due order; each outcome is committed beside them
        (group commit), so the next delivery never waits for a commit. Workers, not a task per
        reminder: the first delivery starts at once, not after a thousand tasks were made."""
        waiting = deque(batch)
        renewing = asyncio.create_task(self._renew_claims(), name="reminder-claims")

        async def work(group: asyncio.TaskGroup) -> None:
            while waiting:
                reminder = waiting.popleft()
                early = reminder.due_at - self._clock()
                if early > 0:  # claimed ahead (lookahead): not before its time
                    await self._sleep(early)
                outcome, due = await self._attempt(reminder)
                group.create_task(self._record(outcome, due))

        try:
            async with asyncio.TaskGroup() as group:
                for _ in range(min(self._concurrency, len(batch))):
                    group.create_task(work(group))
        finally:
            renewing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewing

    async def _renew_claims(self) -> None:
        """Keep this batch's claims alive while it is out (a third of the lease between renewals)."""
        while True:
            await self._sleep(self._lease / 3)
            try:
                await self._store.renew(self.claim, self._clock() + self._lease)
            except DATABASE_ERRORS as exc:
                log.warning("Could not renew reminder claims (%s); they may be taken over", exc)

    async def _attempt(self, reminder: Reminder) -> tuple[Outcome, DueReminder]:
        started = self._clock()
        due = DueReminder(reminder, late_by=max(0.0, started - reminder.occurrence_at), attempt=reminder.attempts + 1)
        try:
            async with asyncio.timeout(self._deliver_timeout):
                result = await self._deliver(due)
        except TimeoutError:
            result = DeliveryResult.failed(f"delivery took longer than {self._deliver_timeout:g} s")
        except Exception:
            # The deliver callable is meant to turn Discord errors into a DeliveryResult; anything
            # else is a bug. Count it as a failed attempt so one bad reminder cannot stall the rest.
            log.exception("Delivering reminder %d raised", reminder.id)
            result = DeliveryResult.failed("internal error while delivering (see the bot's log)")
        return self._outcome(reminder, result, self._clock()), due

    async def _record(self, outcome: Outcome, due: DueReminder) -> None:
        await self._commits.submit(outcome)
        if outcome.delivered_at is not None:
            self._lateness.append(due.late_by)

    def _outcome(self, reminder: Reminder, result: DeliveryResult, now: float) -> Outcome:
        rule = reminder.recurrence
        if result.delivered:
            self._counts["delivered"] += 1
            if rule is None:
                return Outcome(reminder.id, "delivered", reminder.due_at, reminder.occurrence_at,
                               reminder.attempts, None, delivered_at=now)
            nxt = reminder.next_occurrence(now)
            assert nxt is not None
            return Outcome(reminder.id, "pending", nxt, nxt, 0, None, delivered_at=now)
        error = redact(result.error or "unknown delivery error")[:MAX_ERROR_CHARS]
        if result.withdrawn:
            self._counts["withdrawn"] += 1
            log.info("Reminder %d withdrawn: %s", reminder.id, error)
            return Outcome(reminder.id, "cancelled", reminder.due_at, reminder.occurrence_at, reminder.attempts, error,
                           None)
        attempts = reminder.attempts + 1
        if not result.permanent and attempts < self._max_attempts:
            self._counts["retried"] += 1
            retry_at = now + min(self._retry_delay * 2 ** (attempts - 1), self._retry_max_delay)
            log.warning("Reminder %d attempt %d failed (%s); retrying at %s", reminder.id, attempts, error,
                        datetime.fromtimestamp(retry_at, UTC).isoformat(timespec="seconds"))
            return Outcome(reminder.id, "pending", retry_at, reminder.occurrence_at, attempts, error, None)
        if rule is not None and not result.permanent:
            self._counts["skipped"] += 1
            nxt = reminder.next_occurrence(now)
            assert nxt is not None
            log.warning("Reminder %d: giving up on this occurrence after %d attempts (%s); next at %s",
                        reminder.id, attempts, error, datetime.fromtimestamp(nxt, UTC).isoformat())
            return Outcome(reminder.id, "pending", nxt, nxt, 0, error, None)
        self._counts["failed"] += 1
        log.warning("Reminder %d failed after %d attempts: %s", reminder.id, attempts, error)
        return Outcome(reminder.id, "failed", reminder.due_at, reminder.occurrence_at, attempts, error, None)
