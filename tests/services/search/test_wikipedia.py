import time

import pytest

from devtools.fakes.search_servers import FakeSearchServers, Scripted
from services.errors import PermanentError, TransientError
from services.search import InvalidQuery, SearchRateLimited, SearchTimeout
from services.search.wikipedia import encode_title
from services.storage import HealthStore
from tests.services.search.conftest import BuildSearch

SUMMARY = "/api/rest_v1/page/summary/"


async def test_exact_page_summary(fake: FakeSearchServers, build: BuildSearch, health: HealthStore) -> None:
    fake.add_wiki_page("Python (programming language)", "Python is a high-level programming language.",
                       description="General-purpose programming language")
    wiki = build(search_user_agent="test-bot/1.0 (admin@example.org)").wikipedia

    page = await wiki.summary("Python (programming language)")

    assert page is not None
    assert page.title == "Python (programming language)"
    assert page.extract == "Python is a high-level programming language."
    assert page.description == "General-purpose programming language"
    assert page.url == "https://en.wikipedia.org/wiki/Python_(programming_language)"
    assert page.thumbnail and page.thumbnail.startswith("https://upload.wikimedia.org/")
    assert page.kind == "standard" and not page.from_search and page.options == ()
    (request,) = fake.requests
    assert request.raw_path == SUMMARY + "Python_(programming_language)"
    assert request.headers["User-Agent"] == "test-bot/1.0 (admin@example.org)"
    state = await health.get("search:wikipedia")
    assert state is not None and state.status == "healthy" and state.latency_ms is not None


async def test_redirect_is_followed(fake: FakeSearchServers, build: BuildSearch) -> None:
    fake.add_wiki_page("United States", "The United States of America is a country.")
    fake.wiki_redirects["USA"] = "United States"

    page = await build().wikipedia.summary("USA")

    assert page is not None and page.title == "United States" and not page.from_search
    assert [r.raw_path for r in fake.requests] == [SUMMARY + "USA", SUMMARY + "United_States"]


async def test_no_exact_page_falls_back_to_search(fake: FakeSearchServers, build: BuildSearch) -> None:
    fake.add_wiki_page("Ada Lovelace", "Augusta Ada King, Countess of Lovelace, was an English mathematician.")
    fake.wiki_search_hits["first programmer"] = ["Ada Lovelace", "Charles Babbage"]

    page = await build().wikipedia.summary("first programmer")

    assert page is not None and page.title == "Ada Lovelace" and page.from_search
    summary_calls, api_calls = fake.requests_to("wiki_summary"), fake.requests_to("wiki_api")
    assert [r.raw_path for r in summary_calls] == [SUMMARY + "first_programmer", SUMMARY + "Ada_Lovelace"]
    (search,) = api_calls
    assert search.query["action"] == "query" and search.query["list"] == "search"
    assert search.query["srsearch"] == "first programmer" and search.query["srlimit"] == "1"
    assert search.query["format"] == "json" and search.query["formatversion"] == "2"
    assert search.headers["User-Agent"]


async def test_invalid_title_falls_back_to_search(fake: FakeSearchServers, build: BuildSearch) -> None:
    fake.add_wiki_page("C Sharp (programming language)", "C# is a general-purpose language.")
    fake.wiki_search_hits["C#"] = ["C Sharp (programming language)"]

    page = await build().wikipedia.summary("C#")

    assert page is not None and page.title == "C Sharp (programming language)" and page.from_search
    assert fake.requests[0].raw_path == SUMMARY + "C%23"


async def test_nothing_found_is_none_not_an_error(fake: FakeSearchServers, build: BuildSearch,
                                                   health: HealthStore) -> None:
    assert await build().wikipedia.summary("qwxzvbnm nothing") is None
    assert len(fake.requests_to("wiki_api")) == 1
    state = await health.get("search:wikipedia")
    assert state is not None and state.status == "healthy"


async def test_disambiguation_answers_with_options(fake: FakeSearchServers, build: BuildSearch) -> None:
    fake.add_disambiguation("Mercury", ["Mercury (planet)", "Mercury (element)", "Mercury (mythology)",
                                        "Freddie Mercury"])

    page = await build().wikipedia.summary("mercury")

    assert page is not None and page.is_disambiguation
    assert page.extract == "Mercury may refer to:"
    assert page.options == ("Freddie Mercury", "Mercury (element)", "Mercury (mythology)", "Mercury (planet)")
    (links,) = fake.requests_to("wiki_api")
    assert links.query["prop"] == "links" and links.query["titles"] == "Mercury"
    assert links.query["plnamespace"] == "0"


async def test_disambiguation_options_are_capped(fake: FakeSearchServers, build: BuildSearch) -> None:
    fake.add_disambiguation("Java", [f"Java ({i:02d})" for i in range(40)])
    page = await build().wikipedia.summary("Java")
    assert page is not None and len(page.options) == 25 and page.options[0] == "Java (00)"
    assert fake.requests_to("wiki_api")[0].query["pllimit"] == "25"


@pytest.mark.parametrize(("title", "raw"), [
    ("Albert Einstein", "Albert_Einstein"),
    ("AC/DC", "AC%2FDC"),
    ("Zürich", "Z%C3%BCrich"),
    ("Café au lait", "Caf%C3%A9_au_lait"),
    ("東京", "%E6%9D%B1%E4%BA%AC"),
    ("😀", "%F0%9F%98%80"),
    ("Who's Afraid of Virginia Woolf?", "Who%27s_Afraid_of_Virginia_Woolf%3F"),
    ("Star Wars: Episode IV – A New Hope", "Star_Wars:_Episode_IV_%E2%80%93_A_New_Hope"),
    ("100% (album)", "100%25_(album)"),
    ("A&B+C=D", "A%26B%2BC%3DD"),
])
async def test_unicode_titles_reach_the_server_exactly_encoded(fake: FakeSearchServers, build: BuildSearch,
                                                               title: str, raw: str) -> None:
    fake.add_wiki_page(title, f"About {title}.")

    page = await build().wikipedia.summary(title)

    assert encode_title(title) == raw
    assert fake.requests[0].raw_path == SUMMARY + raw
    assert page is not None and page.title == title and page.extract == f"About {title}."


async def test_lang_is_part_of_the_answer(fake: FakeSearchServers, build: BuildSearch) -> None:
    fake.add_wiki_page("Zürich", "Zürich ist die bevölkerungsreichste Stadt der Schweiz.", lang="de",
                       host="de.wikipedia.org")
    page = await build(wikipedia_lang="de").wikipedia.summary("Zürich")
    assert page is not None and page.lang == "de" and page.url == "https://de.wikipedia.org/wiki/Z%C3%BCrich"


async def test_rate_limit_is_reported_with_its_retry_hint(fake: FakeSearchServers, build: BuildSearch,
                                                          health: HealthStore) -> None:
    fake.fail("wiki_summary", 429, retry_after="17")

    with pytest.raises(SearchRateLimited) as info:
        await build().wikipedia.summary("Anything")

    assert info.value.retry_after == 17 and info.value.status == 429
    state = await health.get("search:wikipedia")
    assert state is not None and state.status == "degraded" and "rate limited" in (state.last_error or "")


async def test_server_error_is_transient_and_marks_down(fake: FakeSearchServers, build: BuildSearch,
                                                        health: HealthStore) -> None:
    fake.fail("wiki_summary", 503, json_body={"error": "upstream overloaded"})

    with pytest.raises(TransientError, match="upstream overloaded") as info:
        await build().wikipedia.summary("Anything")

    assert info.value.status == 503 and not isinstance(info.value, SearchRateLimited)
    state = await health.get("search:wikipedia")
    assert state is not None and state.status == "down" and state.consecutive_failures == 1


async def test_forbidden_user_agent_is_permanent(fake: FakeSearchServers, build: BuildSearch) -> None:
    fake.fail("wiki_summary", 403, json_body={"error": "Please set a user-agent and respect our robot policy"})
    with pytest.raises(PermanentError, match="user-agent") as info:
        await build().wikipedia.summary("Anything")
    assert info.value.status == 403


async def test_action_api_error_with_status_200_is_an_error(fake: FakeSearchServers, build: BuildSearch) -> None:
    fake.script("wiki_api", Scripted(json_body={"error": {"code": "maxlag", "info": "Waiting for a database"}}))
    with pytest.raises(PermanentError, match="maxlag: Waiting for a database"):
        await build().wikipedia.summary("Not a page")


async def test_slow_server_times_out_promptly(fake: FakeSearchServers, build: BuildSearch,
                                              health: HealthStore) -> None:
    fake.slow("wiki_summary", 30)
    wiki = build(api_request_timeout="0.3").wikipedia

    started = time.monotonic()
    with pytest.raises(SearchTimeout, match=r"no answer within 0\.3 s"):
        await wiki.summary("Slow")

    assert time.monotonic() - started < 5
    state = await health.get("search:wikipedia")
    assert state is not None and state.status == "down"


async def test_invalid_query_never_reaches_the_network(fake: FakeSearchServers, build: BuildSearch) -> None:
    with pytest.raises(InvalidQuery):
        await build().wikipedia.summary(" \u200b ")
    assert fake.requests == []


async def test_probe_records_health(fake: FakeSearchServers, build: BuildSearch) -> None:
    wiki = build().wikipedia
    healthy = await wiki.probe()  # no "Wikipedia" page on the fake: a 404 still proves the API answers
    assert healthy.status == "healthy"
    assert fake.requests[-1].raw_path == SUMMARY + "Wikipedia"

    fake.fail("wiki_summary", 500)
    down = await wiki.probe()
    assert down.status == "down" and down.consecutive_failures == 1 and down.last_error
