"""The per-member rate limit (token bucket) and the daily token quotas, persisted and reset at 00:00 UTC."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.limits import MemberBuckets, MemberLimits, QuotaExceeded, TokenQuotas
from services.storage.backend import Backend
from tests.conftest import Backends, column


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_burst_then_the_sustained_rate() -> None:
    clock = Clock(100.0)
    buckets = MemberBuckets(per_minute=6, burst=3, clock=clock)  # one every 10 s
    assert [buckets.try_take(1) for _ in range(3)] == [0, 0, 0]
    assert buckets.try_take(1) == 10.0
    assert buckets.try_take(2) == 0  # someone else is not affected
    clock.now += 5
    assert buckets.try_take(1) == 5.0
    clock.now += 5
    assert buckets.try_take(1) == 0
    clock.now += 1000  # refills up to the burst, no further
    assert [buckets.try_take(1) for _ in range(4)][-1] > 0


def test_off_and_bounded() -> None:
    assert MemberBuckets(0, 5).try_take(1) == 0
    clock = Clock(0.0)
    buckets = MemberBuckets(per_minute=60, burst=2, clock=clock)
    for member in range(2000):
        buckets.try_take(member)
        clock.now += 0.01
    clock.now += 10
    buckets.try_take(-1)
    assert len(buckets) < 1100  # full buckets are forgotten


async def test_quotas_count_per_member_and_server_and_persist(backends: Backends) -> None:
    clock = Clock(datetime(2026, 3, 1, 22, 30, tzinfo=UTC).timestamp())
    backend = await backends.open()
    quotas = TokenQuotas(backend.quotas(clock=clock), member_limit=1000, server_limit=1500)
    await quotas.check(1, 10)
    await quotas.charge(1, 10, 600)
    await quotas.charge(1, None, 400)  # DMs count for the member, not for a server
    try:
        await quotas.check(1, 10)
    except QuotaExceeded as exc:
        assert exc.message == "You have used your 1,000 tokens for today; resets at 00:00 UTC, in 1 h 30 min."
    else:
        raise AssertionError("the member's quota was not enforced")
    await quotas.check(2, 10)
    await quotas.charge(2, 10, 900)
    try:
        await quotas.check(3, 10)  # a new member, but the server has used 1,500
    except QuotaExceeded as exc:
        assert exc.message.startswith("This server has used its 1,500 tokens for today; resets at 00:00 UTC")
    else:
        raise AssertionError("the server's quota was not enforced")
    await quotas.check(3, 11)  # another server is not affected

    # A restart (a new store on the same database) keeps counting.
    again = TokenQuotas((await backends.open()).quotas(clock=clock), member_limit=1000, server_limit=1500)
    assert await again.store.member_used(1) == 1000 and await again.store.server_used(10) == 1500
    summary = await again.summary(10)
    assert (summary.server_used, summary.members_at_limit, summary.top_members) == (1500, 1, ((2, 900), (1, 600)))

    # Midnight UTC: everyone starts again; a week later the old rows are gone.
    clock.now += 2 * 3600
    await again.check(1, 10)
    assert await again.store.member_used(1) == 0
    await again.charge(1, 10, 5)
    clock.now += 8 * 86400
    await again.charge(1, 10, 5)
    assert await column(backend, "SELECT DISTINCT day FROM token_quota_usage") == ["2026-03-10"]


async def test_admission_checks_the_quota_before_taking_a_unit_of_rate(backend: Backend) -> None:
    clock = Clock(datetime(2026, 3, 1, 12, tzinfo=UTC).timestamp())
    limits = MemberLimits(MemberBuckets(per_minute=1, burst=1, clock=clock),
                          TokenQuotas(backend.quotas(clock=clock), member_limit=10, server_limit=0))
    await limits.quotas.charge(1, 5, 10)
    refusal = await limits.admit(1, 5, model=True)
    assert refusal is not None and "used your 10 tokens" in refusal
    assert await limits.admit(1, 5) is None  # a search uses no tokens: only the rate applies
    refusal = await limits.admit(1, 5)
    assert refusal == "Slow down: you can ask again in 60 s."


async def test_two_processes_share_one_quota(backends: Backends) -> None:
    """What one process charged, the other sees at once: a member cannot double their quota by being
    answered by two processes. SQLite is one process (its second store here is a restart), so only
    the shared backend is checked across live stores."""
    clock = Clock(datetime(2026, 3, 1, 12, tzinfo=UTC).timestamp())
    first = TokenQuotas((await backends.open()).quotas(clock=clock), member_limit=100, server_limit=150)
    if not first.store.shared:
        pytest.skip("SQLite serves one process")
    second = TokenQuotas((await backends.open()).quotas(clock=clock), member_limit=100, server_limit=150)
    await second.check(1, 10)  # read (and, with one process, it would be cached) before the other charges
    await first.charge(1, 10, 100)
    try:
        await second.check(1, 10)
    except QuotaExceeded as exc:
        assert "used your 100 tokens" in exc.message
    else:
        raise AssertionError("a quota spent in one process was not enforced by the other")
    await second.charge(2, 10, 50)
    summary = await first.summary(10)
    assert (summary.server_used, summary.members_at_limit, summary.top_members) == (150, 1, ((1, 100), (2, 50)))
