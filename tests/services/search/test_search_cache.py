from pathlib import Path

import aiohttp
import pytest

from devtools.fakes.search_servers import FakeSearchServers, urban_entry
from services.errors import TransientError
from services.search import build_search
from services.storage import Cache, Database
from services.storage.sqlite.cache import SqliteCache
from services.storage.sqlite.health import SqliteHealthStore
from tests.services.search.conftest import BuildSearch, Clock, make_settings
from tests.services.search.test_web_ddgs import FakeDDGS


async def test_repeated_queries_are_answered_from_the_cache(fake: FakeSearchServers, build: BuildSearch,
                                                            cache: Cache) -> None:
    fake.add_wiki_page("Python (programming language)", "Python is a language.")
    fake.add_urban("yeet", urban_entry("yeet", "to throw"))
    ddgs = FakeDDGS()
    search = build(ddgs_factory=ddgs)

    first = await search.wikipedia.summary("Python (programming language)")
    assert await search.wikipedia.summary("python_(programming  language)") == first  # same title to Wikipedia
    assert await search.urban.define("yeet") == await search.urban.define("  YEET ")
    assert await search.web.search("Hello  World") == await search.web.search("hello world")

    assert len(fake.requests) == 2 and len(ddgs.calls) == 1
    assert await cache.namespaces() == ["search:urban", "search:web", "search:wikipedia"]


async def test_wikipedia_keeps_case_beyond_the_first_letter(fake: FakeSearchServers, build: BuildSearch) -> None:
    fake.add_wiki_page("US", "US may mean the United States.")
    fake.add_wiki_page("Us", "Us is a pronoun.")
    wiki = build().wikipedia
    assert (await wiki.summary("US")).extract != (await wiki.summary("Us")).extract  # type: ignore[union-attr]


async def test_not_found_is_cached_but_errors_are_not(fake: FakeSearchServers, build: BuildSearch) -> None:
    wiki = build().wikipedia
    assert await wiki.summary("No such thing") is None
    assert await wiki.summary("No such thing") is None
    assert len(fake.requests) == 2  # summary 404 + search, once

    fake.fail("urban", 503)
    with pytest.raises(TransientError):
        await build().urban.define("flaky")
    assert await build().urban.define("flaky") == []
    assert len(fake.requests_to("urban")) == 2


async def test_per_source_ttl_and_expiry(fake: FakeSearchServers, build: BuildSearch, clock: Clock) -> None:
    fake.add_wiki_page("Moon", "The Moon orbits Earth.")
    fake.add_urban("moon", urban_entry("moon", "to show one's bottom"))
    ddgs = FakeDDGS()
    search = build(ddgs_factory=ddgs, wikipedia_cache_ttl=100, urban_cache_ttl=10, web_search_cache_ttl=0,
                   api_cache_ttl=50)

    async def ask_all() -> None:
        await search.wikipedia.summary("Moon")
        await search.urban.define("moon")
        await search.web.search("moon")

    await ask_all()
    clock.now += 11  # urban (10 s) expired
    await ask_all()
    assert (len(fake.requests_to("wiki_summary")), len(fake.requests_to("urban")), len(ddgs.calls)) == (1, 2, 1)
    clock.now += 40  # web (0 -> API_CACHE_TTL = 50 s) expired, urban again
    await ask_all()
    assert (len(fake.requests_to("wiki_summary")), len(fake.requests_to("urban")), len(ddgs.calls)) == (1, 3, 2)
    clock.now += 50  # wikipedia (100 s) expired
    await ask_all()
    assert len(fake.requests_to("wiki_summary")) == 2


async def test_language_is_part_of_the_key(fake: FakeSearchServers, build: BuildSearch) -> None:
    fake.add_wiki_page("Berlin", "Berlin is the capital of Germany.")
    await build(wikipedia_lang="en").wikipedia.summary("Berlin")
    await build(wikipedia_lang="de").wikipedia.summary("Berlin")
    assert len(fake.requests) == 2


async def test_cache_can_be_turned_off(fake: FakeSearchServers, build: BuildSearch, cache: Cache) -> None:
    fake.add_wiki_page("Moon", "The Moon orbits Earth.")
    wiki = build(api_cache_enabled="false").wikipedia
    await wiki.summary("Moon")
    await wiki.summary("Moon")
    assert len(fake.requests) == 2 and await cache.namespaces() == []


async def test_cached_answers_survive_a_restart(tmp_path: Path, session: aiohttp.ClientSession) -> None:
    path = tmp_path / "restart.db"
    async with FakeSearchServers() as fake:
        fake.add_disambiguation("Mercury", ["Mercury (planet)", "Mercury (element)"])
        fake.add_urban("yeet", urban_entry("yeet", "to [throw]", thumbs_up=3))
        settings = make_settings(fake)
        db = await Database.open(path)
        search = build_search(settings, session, SqliteCache(db), SqliteHealthStore(db), ddgs_factory=FakeDDGS())
        before = (await search.wikipedia.summary("Mercury"), await search.urban.define("yeet"),
                  await search.web.search("python"))
        await search.close()
        await db.close()
    # The servers are gone; a new process with the same database still answers.
    db = await Database.open(path)
    try:
        unused = FakeDDGS(error=AssertionError("ddgs must not be called"))
        search = build_search(settings, session, SqliteCache(db), SqliteHealthStore(db), ddgs_factory=unused)
        after = (await search.wikipedia.summary("Mercury"), await search.urban.define("yeet"),
                 await search.web.search("python"))
        await search.close()
    finally:
        await db.close()
    assert after == before
    assert after[0] is not None and after[0].options == ("Mercury (element)", "Mercury (planet)")
    assert unused.calls == []
