"""token_quota_usage rows in SQLite (one process: today's totals cached by QuotaStore)."""

from __future__ import annotations

import time
from collections.abc import Callable

from services.limits.quotas import QuotaStore
from services.storage.db import Database


class SqliteQuotaStore(QuotaStore):
    def __init__(self, db: Database, *, clock: Callable[[], float] = time.time) -> None:
        super().__init__(shared=False, clock=clock)
        self._db = db

    async def _drop_before(self, day: str) -> None:
        await self._db.execute("DELETE FROM token_quota_usage WHERE day < ?", (day,))

    async def _member_sum(self, day: str, member_id: int) -> int:
        row = await self._db.fetchone(
            "SELECT COALESCE(SUM(tokens), 0) FROM token_quota_usage WHERE day = ? AND member_id = ?", (day, member_id))
        return int(row[0]) if row else 0

    async def _server_sum(self, day: str, guild_id: int) -> int:
        row = await self._db.fetchone(
            "SELECT COALESCE(SUM(tokens), 0) FROM token_quota_usage WHERE day = ? AND guild_id = ?", (day, guild_id))
        return int(row[0]) if row else 0

    async def _charge(self, day: str, guild_id: int, member_id: int, tokens: int) -> None:
        await self._db.execute(
            "INSERT INTO token_quota_usage (day, guild_id, member_id, tokens, requests) VALUES (?, ?, ?, ?, 1) "
            "ON CONFLICT (day, guild_id, member_id) DO UPDATE SET "
            "tokens = token_quota_usage.tokens + excluded.tokens, requests = token_quota_usage.requests + 1",
            (day, guild_id, member_id, tokens))

    async def _top(self, day: str, guild_id: int, limit: int) -> list[tuple[int, int]]:
        rows = await self._db.fetchall(
            "SELECT member_id, tokens FROM token_quota_usage WHERE day = ? AND guild_id = ? "
            "ORDER BY tokens DESC, member_id LIMIT ?", (day, guild_id, limit))
        return [(int(r[0]), int(r[1])) for r in rows]

    async def _members_at_least(self, day: str, guild_id: int, tokens: int) -> int:
        row = await self._db.fetchone(
            "SELECT COUNT(*) FROM (SELECT t.member_id FROM token_quota_usage t "
            "WHERE t.day = ? AND t.member_id IN (SELECT member_id FROM token_quota_usage WHERE day = ? AND guild_id = ?) "
            "GROUP BY t.member_id HAVING SUM(t.tokens) >= ?) AS spent", (day, day, guild_id, tokens))
        return int(row[0]) if row else 0
