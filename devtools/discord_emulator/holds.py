"""Answers held back on request: the work is done (a message exists) but the client has no reply yet.

What a process sees when it dies between Discord accepting a request and reading the answer (or a
slow network): `hold = emu.hold_responses("POST /channels/*/messages")`, kill the client while
`hold.held` grows, then `hold.release()`.
"""

from __future__ import annotations

import asyncio
import fnmatch
from dataclasses import dataclass, field


@dataclass(eq=False)
class Hold:
    method: str | None  # None: any method
    pattern: str  # glob over the route template or the concrete path
    held: int = 0  # answers waiting now or waited so far
    skip: int = 0  # answer this many first (discord.py sends one request to a new bucket, then many)
    released: asyncio.Event = field(default_factory=asyncio.Event)

    def matches(self, method: str, template: str, path: str) -> bool:
        if self.method is not None and self.method != method:
            return False
        return fnmatch.fnmatchcase(template, self.pattern) or fnmatch.fnmatchcase(path, self.pattern)

    def release(self) -> None:
        self.released.set()


class Holds:
    def __init__(self) -> None:
        self.holds: list[Hold] = []

    def add(self, route: str, *, after: int = 0) -> Hold:
        """`route` is "METHOD /path" or "/path", as for rate limits; the first `after` are answered."""
        method, _, path = route.strip().rpartition(" ")
        hold = Hold(method.upper() or None, path, skip=after)
        self.holds.append(hold)
        return hold

    def find(self, method: str, template: str, path: str) -> Hold | None:
        hold = next((h for h in self.holds if not h.released.is_set() and h.matches(method, template, path)), None)
        if hold is not None and hold.skip > 0:
            hold.skip -= 1
            return None
        return hold

    def release_all(self) -> None:
        for hold in self.holds:
            hold.release()
