import time

import pytest

from devtools.fakes.search_servers import FakeSearchServers, searxng_result
from services.errors import PermanentError, TransientError
from services.search import SearchRateLimited, SearchTimeout, WebResult, WebSearch
from services.search.web_searxng import searxng_language
from services.storage import HealthStore
from tests.services.search.conftest import BuildSearch


def searxng(build: BuildSearch, **overrides: str) -> WebSearch:
    return build(web_search_engine="searxng", **overrides).web


async def test_results_from_json_api(fake: FakeSearchServers, build: BuildSearch, health: HealthStore) -> None:
    fake.searxng_answers["rust async"] = {"results": [
        searxng_result("Async in Rust", "https://rust-lang.github.io/async-book/", "The async book"),
        searxng_result("No URL", ""),
        searxng_result("Tokio", "https://tokio.rs/", "An asynchronous runtime", engine="brave"),
        searxng_result("Third", "https://example.org/3"),
    ]}
    web = searxng(build, web_search_max_results=2, web_search_safesearch="off", web_search_region="de-de",
                  search_user_agent="ua-x")

    results = await web.search("rust   async")

    assert results == [WebResult("Async in Rust", "https://rust-lang.github.io/async-book/", "The async book"),
                       WebResult("Tokio", "https://tokio.rs/", "An asynchronous runtime")]
    (request,) = fake.requests
    assert request.path == "/searxng/search"
    assert request.query == {"q": "rust async", "format": "json", "safesearch": "0", "language": "de-DE"}
    assert request.headers["User-Agent"] == "ua-x"
    state = await health.get("search:web")
    assert state is not None and state.status == "healthy"


async def test_empty_results_are_not_an_error(fake: FakeSearchServers, build: BuildSearch) -> None:
    assert await searxng(build).search("nothing at all") == []


async def test_empty_because_engines_were_blocked_is_rate_limited(fake: FakeSearchServers,
                                                                  build: BuildSearch, health: HealthStore) -> None:
    fake.searxng_answers["q"] = {"unresponsive_engines": [["duckduckgo", "CAPTCHA"], ["brave", "too many requests"]]}
    with pytest.raises(SearchRateLimited, match=r"duckduckgo \(CAPTCHA\), brave \(too many requests\)"):
        await searxng(build).search("q")
    state = await health.get("search:web")
    assert state is not None and state.status == "degraded"


async def test_empty_because_engines_timed_out_is_transient(fake: FakeSearchServers, build: BuildSearch) -> None:
    fake.searxng_answers["q"] = {"unresponsive_engines": [["duckduckgo", "timeout"]]}
    with pytest.raises(TransientError, match="no engine answered") as info:
        await searxng(build).search("q")
    assert not isinstance(info.value, SearchRateLimited)


async def test_json_format_disabled_says_how_to_fix(fake: FakeSearchServers, build: BuildSearch) -> None:
    fake.searxng_json_enabled = False
    with pytest.raises(PermanentError, match=r"add json to search\.formats") as info:
        await searxng(build).search("q")
    assert info.value.status == 403


async def test_http_429_and_5xx(fake: FakeSearchServers, build: BuildSearch) -> None:
    web = searxng(build)
    fake.fail("searxng", 429, retry_after="30")
    with pytest.raises(SearchRateLimited) as info:
        await web.search("one")
    assert info.value.retry_after == 30
    fake.fail("searxng", 500)
    with pytest.raises(TransientError) as failure:
        await web.search("two")
    assert failure.value.status == 500


async def test_slow_instance_times_out(fake: FakeSearchServers, build: BuildSearch) -> None:
    fake.slow("searxng", 30)
    started = time.monotonic()
    with pytest.raises(SearchTimeout):
        await searxng(build, web_search_timeout="0.3").search("q")
    assert time.monotonic() - started < 5


async def test_probe_uses_config_not_a_search(fake: FakeSearchServers, build: BuildSearch) -> None:
    web = searxng(build)
    assert (await web.probe()).status == "healthy"
    assert [r.path for r in fake.requests] == ["/searxng/config"]
    fake.fail("searxng_config", 502)
    assert (await web.probe()).status == "down"


@pytest.mark.parametrize(("region", "language"), [("us-en", "en-US"), ("de-de", "de-DE"), ("wt-wt", "all"),
                                                  ("xx", "all")])
def test_region_to_language(region: str, language: str) -> None:
    assert searxng_language(region) == language
