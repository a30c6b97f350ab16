"""/search, /wiki and /urban end to end: the real bot on the emulator, search APIs as local servers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from devtools.discord_emulator import DiscordEmulator
from devtools.fakes.search_servers import FakeSearchServers


@pytest.fixture
async def fake() -> AsyncIterator[FakeSearchServers]:
    async with FakeSearchServers() as servers:
        yield servers


@pytest.fixture
async def search_bot(bot_factory: Any, fake: FakeSearchServers):
    return await bot_factory(extensions=["cogs.search"], web_search_enabled=True, web_search_engine="searxng",
                             web_search_rate_limit_delay=0, **fake.settings_env())


def urban_entry(word: str, definition: str, up: int, down: int = 0) -> dict[str, Any]:
    return {"word": word, "definition": definition, "example": f"I said {word}.", "author": "someone",
            "permalink": f"https://www.urbandictionary.com/define.php?term={word}", "thumbs_up": up,
            "thumbs_down": down, "written_on": "2020-01-01T00:00:00.000Z", "defid": up}


async def test_wiki_summary_with_thumbnail_and_link(search_bot, emulator: DiscordEmulator, fake):
    fake.add_wiki_page("Ada Lovelace", "Ada Lovelace was an English mathematician.", description="mathematician")
    inter = await emulator.invoke(emulator.member("carol"), emulator.channel("general"), "wiki", query="ada lovelace")
    result = await inter.wait_done(timeout=10)
    assert inter.acknowledged_after < 3
    [embed] = result.embeds
    assert embed["title"] == "Ada Lovelace"
    assert "English mathematician" in embed["description"]
    assert embed["url"].startswith("https://en.wikipedia.org/wiki/Ada_Lovelace")
    assert "thumbnail" in embed
    paths = [r.raw_path for r in fake.requests_to("wiki_summary")]
    assert paths[0] == "/api/rest_v1/page/summary/ada_lovelace"  # the exact title first, as typed
    assert paths[-1] == "/api/rest_v1/page/summary/Ada_Lovelace"  # then the search hit


async def test_wiki_disambiguation_lists_options_and_missing_page_says_so(search_bot, emulator, fake):
    fake.add_disambiguation("Mercury", ["Mercury (planet)", "Mercury (element)", "Freddie Mercury"])
    inter = await emulator.invoke(emulator.member("carol"), emulator.channel("general"), "wiki", query="Mercury")
    [embed] = (await inter.wait_done(timeout=10)).embeds
    assert "may refer to" in embed["description"]
    assert "Mercury (element)" in embed["description"] and "Freddie Mercury" in embed["description"]

    inter = await emulator.invoke(emulator.member("carol"), emulator.channel("general"), "wiki", query="Qwzxv")
    result = await inter.wait_done(timeout=10)
    assert "no article matching" in result.text


async def test_wiki_server_error_is_an_honest_message(search_bot, emulator, fake):
    fake.fail("wiki_summary", 503, times=5)
    inter = await emulator.invoke(emulator.member("carol"), emulator.channel("general"), "wiki", query="Anything")
    result = await inter.wait_done(timeout=10)
    assert "Wikipedia is unavailable right now" in result.text
    assert "Traceback" not in result.text


async def test_web_search_results_embed_and_rate_limit_is_not_no_results(search_bot, emulator, fake):
    fake.searxng_answers["python asyncio"] = {"results": [
        {"title": "asyncio — Asynchronous I/O", "url": "https://docs.python.org/3/library/asyncio.html",
         "content": "asyncio is a library to write concurrent code @everyone"},
        {"title": "Real Python [tutorial]", "url": "https://realpython.com/async-io-python/", "content": "A walkthrough."},
    ]}
    inter = await emulator.invoke(emulator.member("carol"), emulator.channel("general"), "search", query="python asyncio")
    result = await inter.wait_done(timeout=10)
    [embed] = result.embeds
    assert "https://docs.python.org/3/library/asyncio.html" in embed["description"]
    assert "realpython.com" in embed["description"]
    assert not result.original.versions[-1].mention_everyone

    fake.fail("searxng", 429, retry_after="30")
    inter = await emulator.invoke(emulator.member("carol"), emulator.channel("general"), "search", query="other thing")
    result = await inter.wait_done(timeout=10)
    assert "rate-limiting" in result.text and "No results" not in result.text


async def test_blank_or_long_queries_are_refused_ephemerally(search_bot, emulator):
    inter = await emulator.invoke(emulator.member("carol"), emulator.channel("general"), "search", query="  \u200b ")
    result = await inter.wait_done(timeout=5)
    assert result.ephemeral and "Type something" in result.text
    inter = await emulator.invoke(emulator.member("carol"), emulator.channel("general"), "wiki", query="x" * 301)
    result = await inter.wait_done(timeout=5)
    assert result.ephemeral and "limit is 300" in result.text


async def test_urban_refused_outside_nsfw_and_pages_in_nsfw(search_bot, emulator, fake):
    fake.add_urban("yeet", urban_entry("yeet", "To [throw] something.", 50),
                   urban_entry("yeet", "An exclamation.", 10))
    inter = await emulator.invoke(emulator.member("carol"), emulator.channel("general"), "urban", term="yeet")
    result = await inter.wait_done(timeout=5)
    assert result.ephemeral and "NSFW" in result.text
    assert not fake.requests_to("urban")

    inter = await emulator.invoke(emulator.member("carol"), emulator.channel("nsfw"), "urban", term="yeet")
    result = await inter.wait_done(timeout=10)
    [embed] = result.embeds
    assert embed["description"].startswith("To [throw](<https://www.urbandictionary.com/define.php?term=throw>)")
    assert "1/2" in embed["footer"]["text"]
    next_id = next(c["custom_id"] for row in result.original.components for c in row["components"]
                   if "Next" in c.get("label", ""))
    click = await emulator.click(emulator.member("carol"), result.original, next_id)
    await click.wait_done(timeout=5)
    await emulator.wait_until(lambda: "2/2" in result.original.embeds[0]["footer"]["text"], timeout=5,
                              message="the pager showed the second definition")
    assert result.original.embeds[0]["description"] == "An exclamation."

    previous_id = next(c["custom_id"] for row in result.original.components for c in row["components"]
                       if "Previous" in c.get("label", ""))
    other = await emulator.click(emulator.member("dave"), result.original, previous_id)
    refused = await other.wait_done(timeout=5)
    assert refused.ephemeral and "Only the person who asked" in refused.text
    assert "2/2" in result.original.embeds[0]["footer"]["text"]


async def test_urban_allowed_everywhere_when_configured(bot_factory, emulator, fake):
    await bot_factory(extensions=["cogs.search"], urban_nsfw_only=False, **fake.settings_env())
    inter = await emulator.invoke(emulator.member("carol"), emulator.channel("general"), "urban", term="nothing")
    result = await inter.wait_done(timeout=10)
    assert "no entry" in result.text
