"""A gate for a costly upstream (a model provider, a search engine): bounded, spaced, fair across members.

At most `limit` holders at once, and optionally `spacing` seconds between one holder starting (or
leaving) and the next starting, for a public engine that blocks bursts. Waiters are not served first
come first served: the next slot goes to the member with the fewest requests in service, then to
the one served least recently (a member never served yet first, in arrival order), so one member
with twenty queued prompts takes turns with everyone else instead of going first twenty times.
A member's own requests keep their order.

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
    position: int = 0


@dataclass
class _Member:
    """One key's queue, how many of its requests are in service, and when it was last served."""

    since: int  # when it arrived (the last tie-break)
    waiting: deque[_Waiter] = field(default_factory=deque)
    serving: int = 0
    served: float = float("-inf")  # order of its last grant; never served comes first

    def rank(self) -> tuple[int, float, int]:
        return self.serving, self.served, self.since


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

    # --- what callers see ---------------------------------------------------------------------------

    @property
    def holders(self) -> int:
        return self._holders

    @property
    def waiting(self) -> int:
        return sum(len(m.waiting) for m in self._members.values())

    def penalize(self, seconds: float) -> None:
        """Hold everyone back (the engine said we were too fast)."""
        self._next_start = max(self._next_start, _now() + seconds)

    def estimated_wait(self) -> float:
        """Seconds until a newcomer could start at the earliest (spacing and penalties only)."""
        return max(0.0, self._next_start - _now())

    @asynccontextmanager
    async def slot(self, key: Hashable = None, *, timeout: float | None = None,
                   on_position: PositionCallback | None = None) -> AsyncIterator[None]:
        """Hold one slot for the body; raises GateTimeout when not served within `timeout`."""
        await self.acquire(key, timeout=timeout, on_position=on_position)
        try:
            yield
        finally:
            self.release(key)

    async def acquire(self, key: Hashable = None, *, timeout: float | None = None,
                      on_position: PositionCallback | None = None) -> None:
        member = self._members.get(key)
        if not self.waiting and self._holders < self.limit and _now() >= self._next_start:
            self._grant(key, member)
            return
        if member is None:
            member = self._members[key] = _Member(since=next(self._order))
        waiter = _Waiter(key, asyncio.get_running_loop().create_future(), on_position)
        member.waiting.append(waiter)
        self._dispatch()
        self._report()
        started = _now()
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
                raise GateTimeout(waiter.position, _now() - started) from None
            raise

    def release(self, key: Hashable = None) -> None:
        self._holders -= 1
        member = self._members.get(key)
        if member is not None:
            member.serving -= 1
            if not member.serving and not member.waiting:
                del self._members[key]
        if self.spacing:
            self._next_start = max(self._next_start, _now() + self.spacing)
        self._dispatch()
        self._report()

    # --- serving ------------------------------------------------------------------------------------

    def _grant(self, key: Hashable, member: _Member | None) -> None:
        if member is None:
            member = self._members[key] = _Member(since=next(self._order))
        member.serving += 1
        member.served = next(self._order)
        self._holders += 1
        if self.spacing:
            self._next_start = max(self._next_start, _now() + self.spacing)

    def _next_member(self) -> tuple[Hashable, _Member] | None:
        candidates = [(m.rank(), k) for k, m in self._members.items() if m.waiting]
        if not candidates:
            return None
        _, key = min(candidates, key=lambda c: c[0])
        return key, self._members[key]

    def _dispatch(self) -> None:
        while self._holders < self.limit:
            found = self._next_member()
            if found is None:
                return
            wait = self._next_start - _now()
            if wait > 0:
                if self._timer is None:
                    self._timer = asyncio.get_running_loop().call_later(wait, self._wake)
                return
            key, member = found
            waiter = member.waiting.popleft()
            self._grant(key, member)
            waiter.future.set_result(None)

    def _wake(self) -> None:
        self._timer = None
        self._dispatch()
        self._report()

    def _drop(self, waiter: _Waiter) -> None:
        member = self._members.get(waiter.key)
        if member is None:
            return
        try:
            member.waiting.remove(waiter)
        except ValueError:
            return
        if not member.waiting and not member.serving:
            del self._members[waiter.key]

    # --- places in line -----------------------------------------------------------------------------

    def _report(self) -> None:
        """Work out every waiter's place as the serving rule would take them; tell those that moved."""
        heap = [(*m.rank(), k) for k, m in self._members.items() if m.waiting]
        if not heap:
            return
        heapq.heapify(heap)
        taken: dict[Hashable, int] = {}
        position = 0
        order = itertools.count(next(self._order))  # later than every real grant, as a future grant is
        while heap:
            serving, _, since, key = heapq.heappop(heap)
            member = self._members[key]
            index = taken.get(key, 0)
            waiter = member.waiting[index]
            position += 1
            if waiter.position != position:
                waiter.position = position
                if waiter.on_position is not None:
                    waiter.on_position(position)
            taken[key] = index + 1
            if index + 1 < len(member.waiting):
                heapq.heappush(heap, (serving + 1, next(order), since, key))


def _now() -> float:
    return asyncio.get_running_loop().time()
