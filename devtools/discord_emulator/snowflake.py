"""Discord snowflake ids: creation time in milliseconds since 2015 in the top 42 bits."""

from __future__ import annotations

from devtools.discord_emulator.clock import Clock

DISCORD_EPOCH_MS = 1_420_070_400_000


class Snowflakes:
    """Strictly increasing ids, so ordering by id is ordering by creation (history relies on it)."""

    def __init__(self, clock: Clock, *, worker: int = 1, process: int = 0) -> None:
        self._clock = clock
        self._prefix = (worker & 0x1F) << 17 | (process & 0x1F) << 12
        self._last_ms = 0
        self._increment = 0

    def next(self) -> int:
        return self._make(max(int(self._clock.time() * 1000), self._last_ms))

    def next_on_shard(self, shard_id: int, shard_count: int) -> int:
        """A new id that Discord routes to `shard_id` of `shard_count` (`(id >> 22) % shard_count`): the
        millisecond part moves on by at most shard_count - 1, so ids stay strictly increasing."""
        ms = max(int(self._clock.time() * 1000), self._last_ms)
        if ms == self._last_ms and self._increment >= 0xFFF:
            ms += 1
        ms += (shard_id - (ms - DISCORD_EPOCH_MS)) % shard_count
        return self._make(ms)

    def _make(self, ms: int) -> int:
        if ms == self._last_ms:
            self._increment += 1
            if self._increment > 0xFFF:
                ms, self._increment = ms + 1, 0
        else:
            self._increment = 0
        self._last_ms = ms
        return (ms - DISCORD_EPOCH_MS) << 22 | self._prefix | self._increment


def snowflake_time(snowflake: int) -> float:
    """Unix time (seconds) at which the id was made."""
    return ((snowflake >> 22) + DISCORD_EPOCH_MS) / 1000
