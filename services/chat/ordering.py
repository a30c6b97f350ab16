"""Which prompts of a channel (thread, DM) may be answered now, and which must wait for another.

Answers in one scope run concurrently, up to `limit` at once (a FairGate per scope, so the free
places are shared across members). Order is kept only where it matters:

- one member's prompts in a scope are answered one after another, in the order they arrived;
- a prompt that replies to a prompt still being answered, or to one of its answer's messages (a
  reply chain), waits for that answer;
- a barrier (/reset) waits for every prompt before it, and every prompt after it waits for it.

A ticket is taken synchronously (`arrive`) before the caller's first await, so "before" means the
order the events arrived in. Its `arrived_at` stamp (strictly increasing) is stored with the
exchange, so memory lists exchanges in arrival order whatever order the answers finish in.
Scopes are dropped as soon as their last ticket leaves, so quiet channels cost nothing.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from types import TracebackType

from services.limits.fair import FairGate

# What a waiting prompt waits for, for the member's notice: ("earlier", 0) for a prompt it follows,
# ("channel", n) for its place among the prompts waiting for a free place in the channel.
WaitCallback = Callable[[str, int], None]


@dataclass
class _Scope:
    gate: FairGate
    tickets: set[Ticket] = field(default_factory=set)
    last_of_member: dict[int, Ticket] = field(default_factory=dict)
    by_message: dict[int, Ticket] = field(default_factory=dict)
    barrier: Ticket | None = None


class ConversationOrder:
    def __init__(self, limit: int, *, clock: Callable[[], float] = time.time) -> None:
        self.limit = limit
        self._clock = clock
        self._scopes: dict[Hashable, _Scope] = {}
        self._last_stamp = 0.0

    def arrive(self, scope: Hashable, member_id: int, *, message_id: int | None = None,
               replies_to: int | None = None, barrier: bool = False) -> Ticket:
        """Take a place now (no await); `async with` the ticket, or `enter()` then `leave()`."""
        state = self._scopes.get(scope)
        if state is None:
            state = self._scopes[scope] = _Scope(FairGate(f"chat:{scope}", self.limit))
        if barrier:
            after = set(state.tickets)
        else:
            candidates = (state.barrier, state.last_of_member.get(member_id),
                          state.by_message.get(replies_to) if replies_to is not None else None)
            after = {t for t in candidates if t is not None}
        self._last_stamp = max(self._clock(), self._last_stamp + 1e-6)
        ticket = Ticket(self, scope, member_id, after, self._last_stamp, barrier=barrier)
        state.tickets.add(ticket)
        if barrier:
            state.barrier = ticket
        else:
            state.last_of_member[member_id] = ticket
        if message_id is not None:
            state.by_message[message_id] = ticket
        return ticket

    def link(self, ticket: Ticket, message_id: int) -> None:
        """A message of `ticket`'s answer: a reply to it continues the chain."""
        state = self._scopes.get(ticket.scope)
        if state is not None and not ticket.finished:
            state.by_message[message_id] = ticket

    def in_flight(self, scope: Hashable) -> int:
        """Tickets of `scope` waiting or running."""
        state = self._scopes.get(scope)
        return len(state.tickets) if state else 0

    def __len__(self) -> int:
        return len(self._scopes)

    def _gate(self, scope: Hashable) -> FairGate:
        return self._scopes[scope].gate

    def _leave(self, ticket: Ticket) -> None:
        state = self._scopes.get(ticket.scope)
        if state is None:
            return
        state.tickets.discard(ticket)
        if state.barrier is ticket:
            state.barrier = None
        if state.last_of_member.get(ticket.member_id) is ticket:
            del state.last_of_member[ticket.member_id]
        for message_id in [m for m, t in state.by_message.items() if t is ticket]:
            del state.by_message[message_id]
        if not state.tickets:
            del self._scopes[ticket.scope]


class Ticket:
    def __init__(self, owner: ConversationOrder, scope: Hashable, member_id: int, after: set[Ticket],
                 arrived_at: float, *, barrier: bool) -> None:
        self._owner = owner
        self.scope = scope
        self.member_id = member_id
        self.arrived_at = arrived_at
        self.barrier = barrier
        self._after = after
        loop = asyncio.get_running_loop()
        self._finished = loop.create_future()
        self._arrived_loop = loop.time()  # for the channel's line: older goes first
        self._holds_slot = False
        self._left = False

    @property
    def finished(self) -> bool:
        return self._finished.done()

    async def enter(self, *, timeout: float | None = None, on_wait: WaitCallback | None = None) -> None:
        """Wait for the prompts this one follows, then for a free place in the scope.

        Raises TimeoutError after `timeout` seconds in all (the ticket is left); a barrier takes no place.
        """
        try:
            async with asyncio.timeout(timeout):
                pending = [t._finished for t in self._after if not t.finished]
                if pending and on_wait is not None:
                    on_wait("earlier", 0)
                for waiting in pending:
                    await asyncio.shield(waiting)
                self._after = set()
                if not self.barrier:
                    report = (lambda n: on_wait("channel", n)) if on_wait is not None else None
                    await self._owner._gate(self.scope).acquire(self.member_id, on_position=report,
                                                                arrived=self._arrived_loop)
                    self._holds_slot = True
        except BaseException:
            self.leave()
            raise

    def leave(self) -> None:
        """Done (or given up, also before entering): whoever follows this ticket may go."""
        if self._left:
            return
        self._left = True
        if self._holds_slot:
            self._holds_slot = False
            self._owner._gate(self.scope).release(self.member_id)
        self._finished.set_result(None)
        self._owner._leave(self)

    async def __aenter__(self) -> Ticket:
        await self.enter()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        self.leave()
