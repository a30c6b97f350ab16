"""Daily model-token quotas per member and per server (UTC days), persisted in token_quota_usage.

Tokens are charged after each model attempt (prompt and answer, as the provider reported them, or
estimated), so an answer in progress may end a little past the quota; the next request is refused
with a message that says when the quota resets. Today's totals are cached in memory once read, so
the check before every prompt costs no query; rows older than a week are dropped at first use each day.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from services.limits.errors import QuotaExceeded
from services.storage.db import Database

DM = 0  # the guild_id under which DM usage is kept
KEEP_DAYS = 7


class QuotaStore:
    """Reads and adds to today's rows; the clock is injected so tests can cross midnight."""

    def __init__(self, db: Database, *, clock: Callable[[], float] = time.time) -> None:
        self._db = db
        self.clock = clock
        self._day = ""
        self._members: dict[int, int] = {}
        self._servers: dict[int, int] = {}

    def today(self) -> str:
        return datetime.fromtimestamp(self.clock(), UTC).strftime("%Y-%m-%d")

    def seconds_to_reset(self) -> float:
        now = datetime.fromtimestamp(self.clock(), UTC)
        midnight = datetime(now.year, now.month, now.day, tzinfo=UTC) + timedelta(days=1)
        return (midnight - now).total_seconds()

    async def _roll(self) -> str:
        day = self.today()
        if day != self._day:  # first use, or the day turned: forget old days
            cutoff = (datetime.fromtimestamp(self.clock(), UTC) - timedelta(days=KEEP_DAYS)).strftime("%Y-%m-%d")
            await self._db.execute("DELETE FROM token_quota_usage WHERE day < ?", (cutoff,))
            self._day, self._members, self._servers = day, {}, {}
        return day

    async def member_used(self, member_id: int) -> int:
        """Tokens the member used today, in every server and in DMs."""
        day = await self._roll()
        if member_id not in self._members:
            row = await self._db.fetchone(
                "SELECT COALESCE(SUM(tokens), 0) FROM token_quota_usage WHERE day = ? AND member_id = ?",
                (day, member_id))
            self._members[member_id] = int(row[0]) if row else 0
        return self._members[member_id]

    async def server_used(self, guild_id: int) -> int:
        day = await self._roll()
        if guild_id not in self._servers:
            row = await self._db.fetchone(
                "SELECT COALESCE(SUM(tokens), 0) FROM token_quota_usage WHERE day = ? AND guild_id = ?",
                (day, guild_id))
            self._servers[guild_id] = int(row[0]) if row else 0
        return self._servers[guild_id]

    async def add(self, member_id: int, guild_id: int | None, tokens: int) -> None:
        """Charge one request's tokens to the member and, in a server, to the server."""
        guild = DM if guild_id is None else guild_id
        await self.member_used(member_id)  # known before the sum, so the cache stays exact
        await self.server_used(guild)
        await self._db.execute(
            "INSERT INTO token_quota_usage (day, guild_id, member_id, tokens, requests) VALUES (?, ?, ?, ?, 1) "
            "ON CONFLICT (day, guild_id, member_id) DO UPDATE SET "
            "tokens = token_quota_usage.tokens + excluded.tokens, requests = token_quota_usage.requests + 1",
            (self._day, guild, member_id, tokens))
        self._members[member_id] += tokens
        self._servers[guild] += tokens

    async def top_members(self, guild_id: int, limit: int = 3) -> list[tuple[int, int]]:
        """Today's heaviest users in one server as (member id, tokens there), most first."""
        rows = await self._db.fetchall(
            "SELECT member_id, tokens FROM token_quota_usage WHERE day = ? AND guild_id = ? "
            "ORDER BY tokens DESC, member_id LIMIT ?", (await self._roll(), guild_id, limit))
        return [(int(r[0]), int(r[1])) for r in rows]

    async def members_at_least(self, guild_id: int, tokens: int) -> int:
        """Members active in this server today whose total (everywhere) reached `tokens`."""
        day = await self._roll()
        row = await self._db.fetchone(
            "SELECT COUNT(*) FROM (SELECT t.member_id FROM token_quota_usage t "
            "WHERE t.day = ? AND t.member_id IN (SELECT member_id FROM token_quota_usage WHERE day = ? AND guild_id = ?) "
            "GROUP BY t.member_id HAVING SUM(t.tokens) >= ?) AS spent", (day, day, guild_id, tokens))
        return int(row[0]) if row else 0


@dataclass(frozen=True)
class QuotaSummary:
    """What /health shows about today's quotas in one server."""

    member_limit: int
    server_limit: int
    server_used: int
    members_at_limit: int
    top_members: tuple[tuple[int, int], ...]


class TokenQuotas:
    """The policy: MEMBER_DAILY_TOKENS and SERVER_DAILY_TOKENS (0 = no limit)."""

    def __init__(self, store: QuotaStore, *, member_limit: int, server_limit: int) -> None:
        self.store = store
        self.member_limit = member_limit
        self.server_limit = server_limit

    @property
    def enabled(self) -> bool:
        return bool(self.member_limit or self.server_limit)

    async def check(self, member_id: int, guild_id: int | None) -> None:
        """Raise QuotaExceeded when the member or their server has spent today's tokens."""
        if self.member_limit and await self.store.member_used(member_id) >= self.member_limit:
            raise QuotaExceeded(f"You have used your {self.member_limit:,} tokens for today; "
                                f"resets at 00:00 UTC{self._in()}.")
        if (self.server_limit and guild_id is not None
                and await self.store.server_used(guild_id) >= self.server_limit):
            raise QuotaExceeded(f"This server has used its {self.server_limit:,} tokens for today; "
                                f"resets at 00:00 UTC{self._in()}.")

    async def charge(self, member_id: int, guild_id: int | None, tokens: int) -> None:
        if tokens > 0:
            await self.store.add(member_id, guild_id, tokens)

    async def summary(self, guild_id: int | None) -> QuotaSummary:
        """Today in one server (guild_id None: DMs): its total, members at their limit, the top three."""
        guild = DM if guild_id is None else guild_id
        at_limit = await self.store.members_at_least(guild, self.member_limit) if self.member_limit else 0
        return QuotaSummary(self.member_limit, self.server_limit, await self.store.server_used(guild), at_limit,
                            tuple(await self.store.top_members(guild)))

    def _in(self) -> str:
        left = int(self.store.seconds_to_reset())
        hours, minutes = divmod(max(60, left) // 60, 60)
        return f", in {hours} h {minutes:02d} min" if hours else f", in {minutes} min"
