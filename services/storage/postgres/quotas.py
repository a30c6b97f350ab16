"""token_quota_usage rows in PostgreSQL, shared by every process (no totals cached in memory)."""

from __future__ import annotations

import time
from collections.abc import Callable

from services.limits.quotas import QuotaStore
from services.storage.postgres.database import PgDatabase


class PostgresQuotaStore(QuotaStore):
    def __init__(self, db: PgDatabase, *, clock: Callable[[], float] = time.time) -> None:
        super().__init__(shared=True, clock=clock)
        self._db = db

    async def _drop_before(self, day: str) -> None:
        await self._db.execute("DELETE FROM token_quota_usage WHERE day < $1", day)

    async def _member_sum(self, day: str, member_id: int) -> int:
        return int(await self._db.fetchval(
            "SELECT COALESCE(sum(tokens), 0) FROM token_quota_usage WHERE day = $1 AND member_id = $2", day, member_id))

    async def _server_sum(self, day: str, guild_id: int) -> int:
        return int(await self._db.fetchval(
            "SELECT COALESCE(sum(tokens), 0) FROM token_quota_usage WHERE day = $1 AND guild_id = $2", day, guild_id))

    async def _charge(self, day: str, guild_id: int, member_id: int, tokens: int) -> None:
        await self._db.execute(
            "INSERT INTO token_quota_usage (day, guild_id, member_id, tokens, requests) VALUES ($1, $2, $3, $4, 1) "
            "ON CONFLICT (day, guild_id, member_id) DO UPDATE SET "
            "tokens = token_quota_usage.tokens + excluded.tokens, requests = token_quota_usage.requests + 1",
            day, guild_id, member_id, tokens)

    async def _top(self, day: str, guild_id: int, limit: int) -> list[tuple[int, int]]:
        rows = await self._db.fetch(
            "SELECT member_id, tokens FROM token_quota_usage WHERE day = $1 AND guild_id = $2 "
            "ORDER BY tokens DESC, member_id LIMIT $3", day, guild_id, limit)
        return [(int(r[0]), int(r[1])) for r in rows]

    async def _members_at_least(self, day: str, guild_id: int, tokens: int) -> int:
        return int(await self._db.fetchval(
            "SELECT count(*) FROM (SELECT t.member_id FROM token_quota_usage t "
            "WHERE t.day = $1 AND t.member_id IN (SELECT member_id FROM token_quota_usage WHERE day = $1 AND guild_id = $2) "
            "GROUP BY t.member_id HAVING sum(t.tokens) >= $3) AS spent", day, guild_id, tokens))
