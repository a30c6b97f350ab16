"""A gate for a costly upstream (a model provider, a search engine): bounded, spaced, fair across members.

At most `limit` holders at once, and optionally `spacing` seconds between one holder starting (or
leaving) and the next starting, for a public engine that blocks bursts.

Waiters are not served first come first served. Each request gets a stamp, a virtual clock: when it
reached the bot (which may be before it reached this gate, e.g. a prompt that waited for the same
member's previous one), but never sooner than one "share" after the same member's previous stamp.
A share is the time the gate needs per request (its measured hold time divided by its slots, plus
the spacing). The next slot goes to the member with the fewest requests in service, then to the
lowest stamp. So one member's twenty prompts are spread out, one share apart, and everyone else's
first prompt goes between them instead of after them (round robin), while among members who are
not flooding the oldest request goes first, which keeps the longest waits short. A member's own
requests keep their order.

Each waiter may give an `on_position` callback, called (synchronously) with its place in line
whenever that place changes, so the member can be shown where they stand.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections import deque
from collections.abc import AsyncIterator, Callable, Hashable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

PositionCallback = Callable[[int], None]
FIRST_HOLD_GUESS = 1.0  # seconds a request holds a slot, until the gate has measured it
HOLD_WEIGHT = 0.2  # of each new measure in the moving average


class GateTimeout(Exception):
    """The waiter was not served within its timeout; `position` is where it still stood."""

    def __init__(self, position: int, waited: float) -> None:
        self.position = position
        self.waited = waited
        super().__init__(f"still number {position} in line after {waited:.0f} s")


@dataclass(eq=False)
class _Waiter:
    key: Hashable
    future: asyncio.Future[None]
    on_position: PositionCallback | None
    stamp: float  # its place on the virtual clock
    seq: int  # ties: the order they came to the gate
    position: int = 0


@dataclass
class _Member:
    """One key's queue, its requests in service, and its last stamp (kept a share after it goes idle)."""

    waiting: deque[_Waiter] = field(default_factory=deque)
    serving: int = 0
    last_stamp: float = float("-inf")
    started: deque[float] = field(default_factory=deque)  # when each request in service started

    def rank(self, taken: int = 0) -> tuple[int, float, int]:
        """How it stands for the next slot (lower first), were `taken` more of its requests served first."""
        head = self.waiting[taken]
        return self.serving + taken, head.stamp, head.seq


class FairGate:
    def __init__(self, name: str, limit: int, *, spacing: float = 0.0) -> None:
        if limit < 1:
            raise ValueError("a gate needs at least one slot")
        self.name = name
        self.limit = limit
        self.spacing = spacing
        self._members: dict[Hashable, _Member] = {}
        self._holders = 0
        self._next_start = 0.0  # loop time before which nobody starts (spacing, penalties)
        self._timer: asyncio.TimerHandle | None = None
        self._order = itertools.count()
        self._hold = FIRST_HOLD_GUESS

    # --- what callers see ---------------------------------------------------------------------------

    @property
    def holders(self) -> int:
        return self._holders

    @property
    def waiting(self) -> int:
        return sum(len(m.waiting) for m in self._members.values())

    @property
    def share(self) -> float:
        """Seconds of the gate's time one request takes: the virtual clock's step per member."""
        return self._hold / self.limit + self.spacing

    def penalize(self, seconds: float) -> None:
        """Hold everyone back (the engine said we were too fast)."""
        self._next_start = max(self._next_start, _now() + seconds)

    def estimated_wait(self) -> float:
        """Seconds until a newcomer could start at the earliest (spacing and penalties only)."""
        return max(0.0, self._next_start - _now())

    @asynccontextmanager
    async def slot(self, key: Hashable = None, *, timeout: float | None = None,
                   on_position: PositionCallback | None = None, arrived: float | None = None) -> AsyncIterator[None]:
        """Hold one slot for the body; raises GateTimeout when not served within `timeout`."""
        await self.acquire(key, timeout=timeout, on_position=on_position, arrived=arrived)
        try:
            yield
        finally:
            self.release(key)

    async def acquire(self, key: Hashable = None, *, timeout: float | None = None,
                      on_position: PositionCallback | None = None, arrived: float | None = None) -> None:
        """Wait for a slot; `arrived` (loop time) is when the request reached the bot, if earlier than now."""
        now = _now()
        member = self._members.get(key)
        if member is None:
            member = self._members[key] = _Member()
        stamp = max(now if arrived is None else min(arrived, now), member.last_stamp + self.share)
        member.last_stamp = stamp
        if not self.waiting and self._holders < self.limit and now >= self._next_start:
            self._grant(member)
            return
        waiter = _Waiter(key, asyncio.get_running_loop().create_future(), on_position, stamp, next(self._order))
        member.waiting.append(waiter)
        self._dispatch()
        self._report()
        try:
            async with asyncio.timeout(timeout):
                await asyncio.shield(waiter.future)
        except BaseException as exc:
            if waiter.future.done() and not waiter.future.cancelled():
                self.release(key)  # served at the moment it gave up: hand the slot on
            else:
                waiter.future.cancel()
                self._drop(waiter)
                self._report()
            if isinstance(exc, TimeoutError):
                raise GateTimeout(waiter.position, _now() - now) from None
            raise

    def release(self, key: Hashable = None) -> None:
        now = _now()
        self._holders -= 1
        member = self._members.get(key)
        if member is not None:
            member.serving -= 1
            if member.started:
                held = now - member.started.popleft()
                self._hold += HOLD_WEIGHT * (held - self._hold)
        if self.spacing:
            self._next_start = max(self._next_start, now + self.spacing)
        self._forget_idle(now)
        self._dispatch()
        self._report()

    # --- serving ------------------------------------------------------------------------------------

    def _grant(self, member: _Member) -> None:
        member.serving += 1
        member.started.append(_now())
        self._holders += 1
        if self.spacing:
            self._next_start = max(self._next_start, _now() + self.spacing)

    def _dispatch(self) -> None:
        while self._holders < self.limit:
            candidates = [(m.rank(), m) for m in self._members.values() if m.waiting]
            if not candidates:
                return
            wait = self._next_start - _now()
            if wait > 0:
                if self._timer is None:
                    self._timer = asyncio.get_running_loop().call_later(wait, self._wake)
                return
            _, member = min(candidates, key=lambda c: c[0])
            waiter = member.waiting.popleft()
            self._grant(member)
            waiter.future.set_result(None)

    def _wake(self) -> None:
        self._timer = None
        self._dispatch()
        self._report()

    def _drop(self, waiter: _Waiter) -> None:
        member = self._members.get(waiter.key)
        if member is not None and waiter in member.waiting:
            member.waiting.remove(waiter)

    def _forget_idle(self, now: float) -> None:
        """Members with nothing pending whose last stamp is a share behind now: a new stamp starts at now anyway."""
        share = self.share
        for key in [k for k, m in self._members.items()
                    if not m.waiting and not m.serving and m.last_stamp + share <= now]:
            del self._members[key]

    # --- places in line -----------------------------------------------------------------------------

    def _report(self) -> None:
        """Work out every waiter's place as the serving rule would take them; tell those that moved."""
        heap = [(*m.rank(), k) for k, m in self._members.items() if m.waiting]
        heapq.heapify(heap)
        taken: dict[Hashable, int] = {}
        position = 0
        while heap:
            *_, key = heapq.heappop(heap)
            member = self._members[key]
            index = taken.get(key, 0)
            waiter = member.waiting[index]
            position += 1
            if waiter.position != position:
                waiter.position = position
                if waiter.on_position is not None:
                    waiter.on_position(position)
            taken[key] = index + 1
            if index + 1 < len(member.waiting):  # its next request, as if this one were in service
                heapq.heappush(heap, (*member.rank(index + 1), key))


def _now() -> float:
    return asyncio.get_running_loop().time()
