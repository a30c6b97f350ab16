"""Every probe result, kept HEALTH_HISTORY_DAYS, for trends and post-mortems (table health_history).

Written by the process that runs the probes (the leader, with several processes); the backends hold
only SQL.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

from services.storage.health import ServiceHealth


class HealthHistory(ABC):
    @abstractmethod
    async def add(self, h: ServiceHealth) -> None:
        """Store one probe result; only failures keep their error (a healthy row repeating an old
        error would mislead)."""

    @abstractmethod
    async def recent(self, service: str, limit: int = 50) -> list[tuple[str, float]]:
        """(status, checked_at), newest first."""

    @abstractmethod
    async def prune(self, older_than: float) -> int:
        """Delete results checked before `older_than`, in small batches; returns how many."""


def kept_error(h: ServiceHealth) -> str | None:
    return h.last_error if h.status in ("down", "degraded") else None
