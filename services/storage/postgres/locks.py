"""Every advisory lock the bot takes, in one place, so keys never collide.

PostgreSQL identifies an advisory lock by one bigint or by two ints, and the two key spaces do not
overlap; the bot uses the two-int form with a fixed project key first, so it cannot meet another
application's locks in the same database. Locks are per database.
"""

from __future__ import annotations

PROJECT = 0x4C4C4D42  # "LLMB"
MIGRATIONS = 1  # transaction-level: one process migrates at a time
LEADER = 2  # session-level: the process doing once-per-bot work
SHARD_BASE = 1_000  # session-level: SHARD_BASE + shard id, the process delivering that shard's reminders


def shard_lease(shard_id: int) -> int:
    return SHARD_BASE + shard_id
