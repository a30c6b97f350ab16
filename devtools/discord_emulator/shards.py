"""Sharding as Discord does it: which shard gets a guild's events, IDENTIFY's `shard` check, the
recommended count `GET /gateway/bot` reports.

A guild belongs to shard `(guild_id >> 22) % shard_count`; DMs (and everything without a guild) go to
shard 0. A session whose shard would hold more guilds than the per-shard limit is closed with 4011.
"""

from __future__ import annotations

import math
from typing import Any

MAX_GUILDS_PER_SHARD = 2500  # Discord's limit: past it IDENTIFY closes with 4011 "Sharding required"
GUILDS_PER_RECOMMENDED_SHARD = 1000  # Discord recommends about one shard per 1,000 guilds

INVALID_SHARD, SHARDING_REQUIRED = 4010, 4011

Shard = tuple[int, int]  # (shard_id, shard_count)


def shard_of(guild_id: int | None, shard_count: int) -> int:
    """The shard that receives the guild's events; None (DMs) is shard 0."""
    return 0 if guild_id is None else (guild_id >> 22) % shard_count


def parse_shard(value: Any) -> Shard | None:
    """IDENTIFY's `shard` as (shard_id, shard_count); absent means (0, 1); None when Discord would
    close with 4010 (not two integers, a count below 1, an id outside 0..count-1)."""
    if value is None:
        return 0, 1
    if not isinstance(value, list | tuple) or len(value) != 2 or not all(type(v) is int for v in value):
        return None
    shard_id, shard_count = value
    if shard_count < 1 or not 0 <= shard_id < shard_count:
        return None
    return shard_id, shard_count


def recommended_shards(guild_count: int) -> int:
    return max(1, math.ceil(guild_count / GUILDS_PER_RECOMMENDED_SHARD))
