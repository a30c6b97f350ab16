"""The router and members: quotas checked and charged, a fair line per provider with places reported,
and the time in line kept apart from the answer's own time limit but bounded by the asker's deadline."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from devtools.fakes.llm_server import Reply
from services.limits import QuotaExceeded, Requester, TokenQuotas
from services.llm.base import Message
from services.llm.errors import AllProvidersFailed
from services.llm.factory import build_router
from services.storage.sqlite.health import SqliteHealthStore
from services.storage.sqlite.quotas import SqliteQuotaStore
from services.storage.sqlite.usage import SqliteUsageStore
from tests.services.llm.conftest import Clock, settings

ASK = [Message("user", "Hi")]


def router_for(session, db, url: str, *, quotas: TokenQuotas | None = None, **env: str):
    return build_router(settings(LLM_PROVIDER="ollama", OLLAMA_HOST=url, API_RETRY_ATTEMPTS="1", **env), session,
                        health=SqliteHealthStore(db), usage=SqliteUsageStore(db), quotas=quotas)


async def answer(router, requester: Requester | None = None):
    return [e async for e in router.stream(ASK, requester=requester)][-1]


async def test_the_askers_quota_is_checked_first_and_charged_after(session, db, server) -> None:
    clock = Clock(datetime(2026, 1, 1, 12, tzinfo=UTC).timestamp())
    quotas = TokenQuotas(SqliteQuotaStore(db, clock=clock), member_limit=25, server_limit=0)
    router = router_for(session, db, server.url, quotas=quotas)
    carol = Requester(7, guild_id=3)
    server.queue(Reply(usage=(11, 7)), Reply(usage=(11, 7)))
    await answer(router, carol)
    assert await quotas.store.member_used(7) == 18 and await quotas.store.server_used(3) == 18
    await answer(router, carol)  # 18 < 25: still allowed; now 36
    with pytest.raises(QuotaExceeded, match="used your 25 tokens"):
        await answer(router, carol)
    assert len(server.chat_requests) == 2  # refused before any request
    await answer(router)  # no requester (an internal call): no quota


async def test_a_fair_line_per_provider_with_places_reported(session, db, server) -> None:
    router = router_for(session, db, server.url, LLM_MAX_CONCURRENCY="1")
    server.default = Reply(first_token_delay=0.1, text="ok")
    places: dict[str, list[int]] = {}
    flood_in_line = asyncio.Event()

    def asker(member: int, name: str) -> Requester:
        def queued(what: str, place: int) -> None:
            places.setdefault(name, []).append(place)
            if place == 4:
                flood_in_line.set()
        return Requester(member, on_queued=queued)

    flood = [asyncio.create_task(answer(router, asker(1, f"flood{i}"))) for i in range(5)]
    await asyncio.wait_for(flood_in_line.wait(), 5)  # one is answering, four are in line
    newcomer = asyncio.create_task(answer(router, asker(2, "newcomer")))
    await asyncio.gather(*flood, newcomer)
    assert places["newcomer"][0] == 1  # ahead of the flooder's four waiting prompts
    assert sorted(p[0] for name, p in places.items() if name.startswith("flood")) == [1, 2, 3, 4]
    assert all(p[-1] == 1 for p in places.values())  # each was told as it moved up to the front
    order = [r.json["messages"][-1]["content"] for r in server.chat_requests]
    assert len(order) == 6 and server.max_in_flight == 1


async def test_time_in_line_does_not_count_against_the_answer_but_the_deadline_does(session, db, server) -> None:
    router = router_for(session, db, server.url, LLM_MAX_CONCURRENCY="1", LLM_TOTAL_TIMEOUT="1",
                        LLM_FIRST_TOKEN_TIMEOUT="1")
    server.queue(Reply(first_token_delay=0.8, text="slow"), Reply(first_token_delay=0.5, text="second"))
    first = asyncio.create_task(answer(router))
    await server.wait_for_chat_requests(1)
    # 0.8 s in line, then 0.5 s answering: within a 1 s answer limit, since the line does not count.
    assert (await answer(router)).text == "second"
    assert (await first).text == "slow"

    server.queue(Reply(first_token_delay=0.7, text="hold"))
    holder = asyncio.create_task(answer(router))
    await server.wait_for_chat_requests(3)
    soon = Requester(5, deadline=asyncio.get_running_loop().time() + 0.3)
    started = asyncio.get_running_loop().time()
    with pytest.raises(AllProvidersFailed, match="in line"):
        await answer(router, soon)
    assert asyncio.get_running_loop().time() - started < 0.6  # gave up at its deadline, not after the slow one
    assert (await holder).text == "hold"
