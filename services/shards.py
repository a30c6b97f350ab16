"""Which of the bot's shards a process covers, and which shard a server belongs to (Discord's rule).

A guild's events go to shard `(guild_id >> 22) % shard_count`; DMs to shard 0. Reminders follow the
same rule, so the process that answers a server is the one that delivers its reminders.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


def shard_of(guild_id: int | None, count: int) -> int:
    """The shard of a guild (DMs and guild-less rows: shard 0)."""
    return 0 if guild_id is None else (guild_id >> 22) % count


@dataclass(frozen=True)
class Shards:
    """Some shards of `count`; the default is the whole bot in one process."""

    count: int = 1
    ids: frozenset[int] = frozenset({0})

    @classmethod
    def of(cls, count: int, ids: Iterable[int]) -> Shards:
        chosen = frozenset(ids)
        if count < 1 or not chosen or not all(0 <= i < count for i in chosen):
            raise ValueError(f"shard ids {sorted(chosen)} are not all below the count {count}")
        return cls(count, chosen)

    @classmethod
    def every(cls, count: int = 1) -> Shards:
        return cls(count, frozenset(range(count)))

    @property
    def is_all(self) -> bool:
        return len(self.ids) == self.count

    def owns(self, guild_id: int | None) -> bool:
        return shard_of(guild_id, self.count) in self.ids

    def sorted_ids(self) -> list[int]:
        return sorted(self.ids)

    def describe(self) -> str:
        """'shards 0,1 of 4', or 'all shards' (for logs and /health)."""
        if self.is_all:
            return "all shards" if self.count > 1 else "one shard"
        return f"shard{'s' if len(self.ids) > 1 else ''} {','.join(map(str, self.sorted_ids()))} of {self.count}"

    def with_ids(self, ids: Iterable[int]) -> Shards:
        return Shards(self.count, frozenset(ids))


ALL = Shards()


def gateway_service(home: Shards) -> str:
    """The health row of this process's gateway connection: one per process when processes share a
    database (`discord:gateway:0,1`), `discord:gateway` for the whole bot in one."""
    return "discord:gateway" if home.is_all else f"discord:gateway:{','.join(map(str, home.sorted_ids()))}"
