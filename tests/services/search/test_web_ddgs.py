"""ddgs at its seam: a stand-in for ddgs.DDGS whose .text() answers or raises ddgs's own exceptions."""

from __future__ import annotations

import asyncio
import itertools
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from ddgs.engines import ENGINES
from ddgs.exceptions import DDGSException, RatelimitException, TimeoutException

from config.settings import WEB_SEARCH_ENGINES
from services.errors import ServiceDisabled, TransientError
from services.search import SearchBusy, SearchRateLimited, SearchTimeout, WebResult
from services.storage import HealthStore
from tests.services.search.conftest import BuildSearch

# What DDGS.text() really returns (ddgs/results.py TextResult -> dict).
DDG_RESULTS = [
    {"title": "Welcome to Python.org", "href": "https://www.python.org/", "body": "The official home of Python."},
    {"title": "Python (programming language) - Wikipedia",
     "href": "https://en.wikipedia.org/wiki/Python_(programming_language)", "body": "Python is a language."},
    {"title": "", "href": "", "body": "dropped: no link"},
]


class FakeDDGS:
    """Records every .text() call; answers with `results`, raises `error`, or blocks until released."""

    def __init__(self, results: list[dict[str, Any]] | None = None, error: Exception | None = None) -> None:
        self.results = results if results is not None else DDG_RESULTS
        self.error = error
        self.block: threading.Event | None = None
        self.entered = threading.Event()
        self.calls: list[tuple[str, dict[str, Any], float]] = []
        self.thread_names: list[str] = []

    def __call__(self) -> FakeDDGS:  # the factory: DDGS(...) -> instance
        return self

    def text(self, query: str, **kwargs: Any) -> list[dict[str, Any]]:
        self.calls.append((query, kwargs, time.monotonic()))
        self.thread_names.append(threading.current_thread().name)
        self.entered.set()
        if self.block is not None:
            self.block.wait(30)
        if self.error is not None:
            raise self.error
        return self.results


@pytest.fixture
def ddgs() -> Iterator[FakeDDGS]:
    fake = FakeDDGS()
    yield fake
    if fake.block is not None:
        fake.block.set()  # let a lingering worker thread finish


async def test_results_and_arguments(ddgs: FakeDDGS, build: BuildSearch, health: HealthStore) -> None:
    web = build(ddgs_factory=ddgs, web_search_engine="brave", web_search_region="uk-en",
                web_search_safesearch="off", web_search_max_results=2).web

    results = await web.search("  python\u200b language ")

    assert results == [WebResult("Welcome to Python.org", "https://www.python.org/", "The official home of Python."),
                       WebResult("Python (programming language) - Wikipedia",
                                 "https://en.wikipedia.org/wiki/Python_(programming_language)",
                                 "Python is a language.")]
    (query, kwargs, _), = ddgs.calls
    assert query == "python language"
    assert kwargs == {"region": "uk-en", "safesearch": "off", "max_results": 2, "backend": "brave"}
    assert ddgs.thread_names[0].startswith("ddgs")  # off the event loop, on our own pool
    state = await health.get("search:web")
    assert state is not None and state.status == "healthy"


async def test_default_backend_is_named_duckduckgo(ddgs: FakeDDGS, build: BuildSearch) -> None:
    await build(ddgs_factory=ddgs).web.search("x")
    assert ddgs.calls[0][1]["backend"] == "duckduckgo"


async def test_no_results_is_an_empty_list(ddgs: FakeDDGS, build: BuildSearch, health: HealthStore) -> None:
    ddgs.error = DDGSException("No results found.")
    assert await build(ddgs_factory=ddgs).web.search("asdkjhqwe") == []
    state = await health.get("search:web")
    assert state is not None and state.status == "healthy"


async def test_rate_limit_is_reported_and_holds_everyone_back(ddgs: FakeDDGS, build: BuildSearch,
                                                              health: HealthStore) -> None:
    ddgs.error = RatelimitException("https://html.duckduckgo.com/html 202 Ratelimit")
    web = build(ddgs_factory=ddgs, queue_max_wait="5").web

    with pytest.raises(SearchRateLimited, match="duckduckgo is rate limiting") as info:
        await web.search("first")
    assert info.value.retry_after == 60
    state = await health.get("search:web")
    assert state is not None and state.status == "degraded"

    started = time.monotonic()
    with pytest.raises(SearchBusy, match="busy, try again in 60 s"):
        await web.search("second user")  # 60 s is more than anyone may wait: refused at once, not asked
    assert time.monotonic() - started < 1
    assert len(ddgs.calls) == 1


async def test_ddgs_timeout_exception(ddgs: FakeDDGS, build: BuildSearch) -> None:
    ddgs.error = TimeoutException("https://html.duckduckgo.com/html/ timed out")
    with pytest.raises(SearchTimeout, match="timed out"):
        await build(ddgs_factory=ddgs).web.search("x")


async def test_other_ddgs_failure_is_transient(ddgs: FakeDDGS, build: BuildSearch, health: HealthStore) -> None:
    ddgs.error = DDGSException("ConnectError: error sending request")
    with pytest.raises(TransientError, match="ConnectError") as info:
        await build(ddgs_factory=ddgs).web.search("x")
    assert not isinstance(info.value, SearchRateLimited | SearchTimeout)
    state = await health.get("search:web")
    assert state is not None and state.status == "down"


async def test_blocking_search_times_out_without_blocking_the_loop(ddgs: FakeDDGS, build: BuildSearch) -> None:
    ddgs.block = threading.Event()
    web = build(ddgs_factory=ddgs, web_search_timeout="0.5").web
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    ticking = asyncio.create_task(ticker())
    started = time.monotonic()
    try:
        with pytest.raises(SearchTimeout, match=r"no answer within 0\.5 s"):
            await web.search("hangs")
    finally:
        ticking.cancel()
    elapsed = time.monotonic() - started
    assert 0.45 <= elapsed < 5
    assert ticks >= 5  # the loop kept running while the worker thread was stuck
    assert ddgs.entered.is_set() and not ddgs.block.is_set()  # the thread is still in .text() (it lingers)


async def test_disabled(ddgs: FakeDDGS, build: BuildSearch) -> None:
    web = build(ddgs_factory=ddgs, web_search_enabled="false").web
    with pytest.raises(ServiceDisabled, match="WEB_SEARCH_ENABLED=false"):
        await web.search("x")
    state = await web.probe()
    assert state.status == "disabled" and ddgs.calls == []


async def test_probe_never_searches(ddgs: FakeDDGS, build: BuildSearch) -> None:
    web = build(ddgs_factory=ddgs).web
    first = await web.probe()
    assert first.status == "unknown" and "not probed" in (first.detail or "")
    await web.search("real traffic")
    after = await web.probe()
    assert after.status == "healthy"  # the last real search's outcome is kept
    assert len(ddgs.calls) == 1


async def test_shared_rate_limit_across_users(ddgs: FakeDDGS, build: BuildSearch) -> None:
    web = build(ddgs_factory=ddgs, web_search_rate_limit_delay="0.3").web

    results = await asyncio.gather(web.search("alice asks"), web.search("bob asks"), web.search("carol asks"))

    assert all(results)
    assert [c[0] for c in ddgs.calls] == ["alice asks", "bob asks", "carol asks"]  # arrival order
    starts = [c[2] for c in ddgs.calls]
    assert all(later - earlier >= 0.29 for earlier, later in itertools.pairwise(starts))


async def test_a_search_waits_in_line_instead_of_being_refused(ddgs: FakeDDGS, build: BuildSearch,
                                                              health: HealthStore) -> None:
    web = build(ddgs_factory=ddgs, web_search_rate_limit_delay="0.5").web
    await web.search("first")
    started = time.monotonic()
    assert await web.search("second")  # answered after its turn, not "busy"
    assert 0.4 <= time.monotonic() - started < 3
    assert [c[0] for c in ddgs.calls] == ["first", "second"]


async def test_busy_instead_of_hanging(ddgs: FakeDDGS, build: BuildSearch, health: HealthStore) -> None:
    web = build(ddgs_factory=ddgs, web_search_rate_limit_delay="5", queue_max_wait="1").web
    await web.search("first")
    before = await health.get("search:web")

    started = time.monotonic()
    with pytest.raises(SearchBusy, match=r"busy, try again in 5 s") as info:
        await web.search("second")
    assert time.monotonic() - started < 1
    assert info.value.retry_after == 5
    assert len(ddgs.calls) == 1
    assert await health.get("search:web") == before  # our own queue says nothing about DuckDuckGo

    assert await web.search("FIRST") == await web.search("first")  # cached answers need no slot
    assert len(ddgs.calls) == 1


async def test_identical_queries_waiting_together_are_searched_once(ddgs: FakeDDGS, build: BuildSearch) -> None:
    web = build(ddgs_factory=ddgs, web_search_rate_limit_delay="0.3").web
    await web.search("warm up")  # the next search has to wait 0.3 s: the others arrive meanwhile
    results = await asyncio.gather(*(web.search(q) for q in ("Same Question", "same question", "  same   question ")))
    assert results[0] == results[1] == results[2]
    assert [c[0] for c in ddgs.calls] == ["warm up", "Same Question"]


def test_every_engine_setting_is_a_real_ddgs_backend() -> None:
    assert set(WEB_SEARCH_ENGINES) - {"searxng"} <= set(ENGINES["text"])


@pytest.mark.parametrize("engine", ["duckduckgo", "brave", "mojeek", "startpage", "yahoo", "wikipedia"])
async def test_the_real_ddgs_library_offline(engine: str, build: BuildSearch, monkeypatch: pytest.MonkeyPatch,
                                             unused_port: int) -> None:
    """The real DDGS (default factory), sent through a proxy that refuses connections: our call
    signature is accepted by the real library and its real failure arrives as a typed error."""
    monkeypatch.setenv("DDGS_PROXY", f"http://127.0.0.1:{unused_port}")
    web = build(web_search_engine=engine).web

    with pytest.raises(TransientError, match=f"{engine}: .*Connection refused") as info:
        await web.search("python")
    assert not isinstance(info.value, SearchRateLimited | SearchTimeout)


@pytest.fixture
def unused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
