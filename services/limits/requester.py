"""Who a costly request is for: the member whose share it uses, where, and by when it must be done."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

# (what is waited for, e.g. "the model" or "web search"; place in line, 1 = next)
QueueCallback = Callable[[str, int], None]


@dataclass(frozen=True)
class Requester:
    """`deadline` is event-loop time (Discord's 15-minute interaction window, less a margin); queues
    and answers are bounded by it so a member is answered, or told why not, while they can still be.
    `arrived_at` (loop time) is when the request reached the bot: in a line, older goes first."""

    member_id: int
    guild_id: int | None = None
    deadline: float | None = None
    on_queued: QueueCallback | None = None
    arrived_at: float | None = None

    def remaining(self, default: float) -> float:
        """Seconds left before the deadline, at most `default`."""
        if self.deadline is None:
            return default
        return min(default, self.deadline - asyncio.get_running_loop().time())

    def position_callback(self, what: str) -> Callable[[int], None] | None:
        if self.on_queued is None:
            return None
        callback = self.on_queued
        return lambda position: callback(what, position)
