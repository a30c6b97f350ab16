"""Who does what when several processes share one database.

- The *leader* does the work that must run once for the whole bot: the health monitor's probes,
  history pruning, health alerts.
- Each process delivers the reminders of the shards it *holds*: its own shards (SHARD_IDS), plus
  those of a process that died, until that process is back.

One process (SQLite, or PostgreSQL without other processes) is always the leader and holds every
shard it runs: `LocalCoordinator`. services/storage/postgres/coordination.py elects through advisory
locks.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Callable

from services.shards import Shards

log = logging.getLogger(__name__)

Listener = Callable[[], None]


class Coordinator(ABC):
    def __init__(self, home: Shards, name: str) -> None:
        self.home = home  # the shards this process runs on the gateway
        self.name = name  # how /health and the logs name this process
        self._listeners: list[Listener] = []

    @property
    @abstractmethod
    def is_leader(self) -> bool: ...

    @property
    @abstractmethod
    def shards(self) -> Shards:
        """The shards whose reminders this process delivers now."""

    @abstractmethod
    async def start(self) -> None: ...

    @abstractmethod
    async def close(self) -> None:
        """Give up leadership and every shard (another process takes them over at once)."""

    @abstractmethod
    async def leader_name(self) -> str | None:
        """The leading process's name, as far as the database knows."""

    def on_change(self, listener: Listener) -> Callable[[], None]:
        """listener() when leadership or the held shards change; returns the undo."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    def _changed(self) -> None:
        for listener in list(self._listeners):
            try:
                listener()
            except Exception:  # one listener's bug must not keep the others from hearing
                log.exception("Coordination listener failed")


class LocalCoordinator(Coordinator):
    """The only process: always the leader, holding every shard it runs."""

    @property
    def is_leader(self) -> bool:
        return True

    @property
    def shards(self) -> Shards:
        return self.home

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def leader_name(self) -> str | None:
        return self.name
