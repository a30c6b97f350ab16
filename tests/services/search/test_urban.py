import time

import pytest

from devtools.fakes.search_servers import FakeSearchServers, Scripted, urban_entry
from services.errors import TransientError
from services.search import SearchRateLimited, SearchTimeout, render_crosslinks
from services.storage import HealthStore
from tests.services.search.conftest import BuildSearch


async def test_definitions_best_voted_first_with_example_and_votes(fake: FakeSearchServers, build: BuildSearch,
                                                                   health: HealthStore) -> None:
    fake.add_urban(
        "yeet",
        urban_entry("yeet", "To [throw] something\r\nwith force.", "He [yeeted] the can.", thumbs_up=10,
                    thumbs_down=8, defid=1),
        urban_entry("Yeet", "An exclamation of excitement.", "YEET!", thumbs_up=500, thumbs_down=20,
                    author="alice", defid=2),
        urban_entry("yeet", "no votes either way", thumbs_up=2, thumbs_down=0, defid=3),
    )

    definitions = await build(search_user_agent="ua-test").urban.define("  YEET ")

    assert [d.thumbs_up for d in definitions] == [500, 10, 2]  # by score: 480, 2, 2 (ties keep UD's order)
    top = definitions[0]
    assert (top.word, top.definition, top.example, top.author) == ("Yeet", "An exclamation of excitement.",
                                                                   "YEET!", "alice")
    assert top.thumbs_down == 20 and top.permalink == "http://Yeet.urbanup.com/2"
    assert definitions[1].definition == "To [throw] something\nwith force."
    (request,) = fake.requests
    assert request.raw_path == "/v0/define?term=YEET" and request.headers["User-Agent"] == "ua-test"
    state = await health.get("search:urban")
    assert state is not None and state.status == "healthy"


async def test_no_entry_is_an_empty_list(fake: FakeSearchServers, build: BuildSearch) -> None:
    assert await build().urban.define("zzqxv no such slang") == []


async def test_unicode_term_is_encoded(fake: FakeSearchServers, build: BuildSearch) -> None:
    fake.add_urban("café 😀", urban_entry("café 😀", "a cosy place"))
    definitions = await build().urban.define("café 😀")
    assert [d.definition for d in definitions] == ["a cosy place"]
    assert fake.requests[0].raw_path == "/v0/define?term=caf%C3%A9+%F0%9F%98%80"
    assert fake.requests[0].query["term"] == "café 😀"


def test_crosslinks_as_text_or_links() -> None:
    text = "A [cool] word, see [hang out] or [a/b?]. Not [this\none]."
    assert render_crosslinks(text) == "A cool word, see hang out or a/b?. Not [this\none]."
    assert render_crosslinks(text, links=True) == (
        "A [cool](<https://www.urbandictionary.com/define.php?term=cool>) word, see "
        "[hang out](<https://www.urbandictionary.com/define.php?term=hang%20out>) or "
        "[a/b?](<https://www.urbandictionary.com/define.php?term=a%2Fb%3F>). Not [this\none].")


async def test_rendered_definition(fake: FakeSearchServers, build: BuildSearch) -> None:
    fake.add_urban("bae", urban_entry("bae", "[before] anyone else", "my [bae]"))
    (definition,) = await build().urban.define("bae")
    assert definition.rendered() == ("before anyone else", "my bae")
    assert definition.rendered(links=True)[1] == "my [bae](<https://www.urbandictionary.com/define.php?term=bae>)"


async def test_rate_limited(fake: FakeSearchServers, build: BuildSearch, health: HealthStore) -> None:
    fake.fail("urban", 429, retry_after="120")
    with pytest.raises(SearchRateLimited) as info:
        await build().urban.define("yeet")
    assert info.value.retry_after == 120
    state = await health.get("search:urban")
    assert state is not None and state.status == "degraded"


async def test_server_error(fake: FakeSearchServers, build: BuildSearch, health: HealthStore) -> None:
    fake.script("urban", Scripted(status=502, text="<html>Bad Gateway</html>"))
    with pytest.raises(TransientError, match="Bad Gateway") as info:
        await build().urban.define("yeet")
    assert info.value.status == 502
    state = await health.get("search:urban")
    assert state is not None and state.status == "down"


async def test_unexpected_shape_is_an_error_not_empty(fake: FakeSearchServers, build: BuildSearch) -> None:
    fake.script("urban", Scripted(json_body={"message": "maintenance"}))
    with pytest.raises(TransientError, match="no definition list"):
        await build().urban.define("yeet")


async def test_slow_server_times_out(fake: FakeSearchServers, build: BuildSearch) -> None:
    fake.slow("urban", 30)
    started = time.monotonic()
    with pytest.raises(SearchTimeout):
        await build(api_request_timeout="0.3").urban.define("yeet")
    assert time.monotonic() - started < 5


async def test_probe(fake: FakeSearchServers, build: BuildSearch) -> None:
    urban = build().urban
    assert (await urban.probe()).status == "healthy"
    assert fake.requests[-1].query == {"term": "test"}
    fake.fail("urban", 500)
    assert (await urban.probe()).status == "down"
