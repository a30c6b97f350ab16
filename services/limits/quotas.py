"""Daily model-token quotas per member and per server (UTC days), persisted in token_quota_usage.

Tokens are charged after each model attempt (prompt and answer, as the provider reported them, or
estimated), so an answer in progress may end a little past the quota; the next request is refused
with a message that says when the quota resets. With SQLite (one process) today's totals are cached
in memory once read; with PostgreSQL they are read from the shared table. Rows older than a week are
dropped at first use each day. The backends (services/storage/{sqlite,postgres}/quotas.py) hold the SQL.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from services.limits.errors import QuotaExceeded

DM = 0  # the guild_id under which DM usage is kept
KEEP_DAYS = 7


class QuotaStore(ABC):
    """Reads and adds to today's rows; the clock is injected so tests can cross midnight.

    With one process (`shared` False) today's totals are cached once read, so the check before
    every prompt costs no query. With several processes on one database every check reads the
    table (one indexed sum), so a member's quota is one quota whichever process answers them.
    """

    def __init__(self, *, shared: bool = False, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self.shared = shared
        self._day = ""
        self._members: dict[int, int] = {}
        self._servers: dict[int, int] = {}

    # --- SQL, one implementation per backend ---------------------------------------------------

    @abstractmethod
    async def _drop_before(self, day: str) -> None: ...

    @abstractmethod
    async def _member_sum(self, day: str, member_id: int) -> int: ...

    @abstractmethod
    async def _server_sum(self, day: str, guild_id: int) -> int: ...

    @abstractmethod
    async def _charge(self, day: str, guild_id: int, member_id: int, tokens: int) -> None:
        """Add tokens and one request to the row (made if missing), atomically."""

    @abstractmethod
    async def _top(self, day: str, guild_id: int, limit: int) -> list[tuple[int, int]]: ...

    @abstractmethod
    async def _members_at_least(self, day: str, guild_id: int, tokens: int) -> int: ...

    # --- shared logic ----------------------------------------------------------------------------

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
            await self._drop_before(cutoff)
            self._day, self._members, self._servers = day, {}, {}
        return day

    async def member_used(self, member_id: int) -> int:
        """Tokens the member used today, in every server and in DMs."""
        day = await self._roll()
        if self.shared:
            return await self._member_sum(day, member_id)
        if member_id not in self._members:
            self._members[member_id] = await self._member_sum(day, member_id)
        return self._members[member_id]

    async def server_used(self, guild_id: int) -> int:
        day = await self._roll()
        if self.shared:
            return await self._server_sum(day, guild_id)
        if guild_id not in self._servers:
            self._servers[guild_id] = await self._server_sum(day, guild_id)
        return self._servers[guild_id]

    async def add(self, member_id: int, guild_id: int | None, tokens: int) -> None:
        """Charge one request's tokens to the member and, in a server, to the server."""
        guild = DM if guild_id is None else guild_id
        day = await self._roll()
        if not self.shared:
            await self.member_used(member_id)  # known before the sum, so the cache stays exact
            await self.server_used(guild)
        await self._charge(day, guild, member_id, tokens)
        if not self.shared:
            self._members[member_id] += tokens
            self._servers[guild] += tokens

    async def top_members(self, guild_id: int, limit: int = 3) -> list[tuple[int, int]]:
        """Today's heaviest users in one server as (member id, tokens there), most first."""
        return await self._top(await self._roll(), guild_id, limit)

    async def members_at_least(self, guild_id: int, tokens: int) -> int:
        """Members active in this server today whose total (everywhere) reached `tokens`."""
        return await self._members_at_least(await self._roll(), guild_id, tokens)


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
