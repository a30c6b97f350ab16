"""The one question every costly command asks first: may this member go now?

Shared by /chat, mentions, /ask, /search, /wiki, /urban, /say and voice turns: one per-member rate
limit (MemberBuckets) and, for what uses the model, the daily token quotas. The answer is a sentence
for the member, or None.
"""

from __future__ import annotations

import math

from services.limits.buckets import MemberBuckets
from services.limits.errors import QuotaExceeded
from services.limits.quotas import TokenQuotas


class MemberLimits:
    def __init__(self, buckets: MemberBuckets, quotas: TokenQuotas) -> None:
        self.buckets = buckets
        self.quotas = quotas

    async def admit(self, member_id: int, guild_id: int | None, *, model: bool = False) -> str | None:
        """None when the member may go (one unit of their rate is used), else why not.

        The quota is checked first, so a member over quota is not also charged a unit of rate.
        """
        if model:
            try:
                await self.quotas.check(member_id, guild_id)
            except QuotaExceeded as exc:
                return exc.message
        wait = self.buckets.try_take(member_id)
        if wait > 0:
            return f"Slow down: you can ask again in {math.ceil(wait)} s."
        return None
