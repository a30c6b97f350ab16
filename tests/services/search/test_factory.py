import aiohttp

from devtools.fakes.search_servers import FakeSearchServers, searxng_result
from services.container import Services
from services.search.web_ddgs import DdgsBackend
from services.search.web_searxng import SearxngBackend
from services.storage import Database
from services.storage.backend import SqliteBackend
from tests.services.search.conftest import BuildSearch, make_settings


async def test_engine_setting_picks_the_backend(build: BuildSearch) -> None:
    assert isinstance(build().web.backend, DdgsBackend) and build().web.engine == "duckduckgo"
    assert build(web_search_engine="mojeek").web.engine == "mojeek"
    searx = build(web_search_engine="searxng").web
    assert isinstance(searx.backend, SearxngBackend) and searx.engine == "searxng"


async def test_container_wires_search(fake: FakeSearchServers, session: aiohttp.ClientSession,
                                      db: Database) -> None:
    fake.add_wiki_page("Moon", "The Moon orbits Earth.")
    fake.searxng_answers["moon"] = {"results": [searxng_result("Moon", "https://example.org/moon")]}
    services = Services(make_settings(fake, web_search_engine="searxng"), session, SqliteBackend(db))
    try:
        page = await services.search.wikipedia.summary("Moon")
        results = await services.search.web.search("moon")
    finally:
        await services.close()
    assert page is not None and page.extract == "The Moon orbits Earth."
    assert [r.url for r in results] == ["https://example.org/moon"]
    assert await services.cache.namespaces() == ["search:web", "search:wikipedia"]
    assert {h.service for h in await services.health.all()} == {"search:web", "search:wikipedia"}
