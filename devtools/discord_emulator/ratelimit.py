"""429s on request, so discord.py's own rate-limit handling runs against real headers and bodies."""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass


@dataclass(eq=False)
class RateLimitRule:
    method: str | None  # None: any method
    pattern: str  # glob over the route template or the concrete path, e.g. "/channels/*/messages"
    remaining: int
    retry_after: float
    is_global: bool
    served: int = 0

    def matches(self, method: str, template: str, path: str) -> bool:
        if self.method is not None and self.method != method:
            return False
        return fnmatch.fnmatchcase(template, self.pattern) or fnmatch.fnmatchcase(path, self.pattern)


class RateLimiter:
    def __init__(self) -> None:
        self.rules: list[RateLimitRule] = []

    def add(self, route: str, *, times: int = 1, retry_after: float = 0.2, is_global: bool = False) -> RateLimitRule:
        """`route` is "METHOD /path" or "/path"; the path may be the template
        ("/channels/{channel_id}/messages") or a glob ("/channels/*/messages")."""
        method, _, path = route.strip().rpartition(" ")
        rule = RateLimitRule(method.upper() or None, path, times, retry_after, is_global)
        self.rules.append(rule)
        return rule

    def take(self, method: str, template: str, path: str) -> RateLimitRule | None:
        for rule in self.rules:
            if rule.remaining > 0 and rule.matches(method, template, path):
                rule.remaining -= 1
                rule.served += 1
                return rule
        return None
