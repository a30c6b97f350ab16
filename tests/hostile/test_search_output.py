"""Search output that tries to forge a link or hide where one points does nothing.

Result URLs go through services.search.urls.link_url (as both web backends do) and then the search
cog's embed; the only masked links in the embed are the bot's own, one per result, to that result."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from hypothesis import example, given, settings
from hypothesis import strategies as st

from cogs.search import web_embed
from devtools.discord_emulator import DiscordEmulator
from services.search.base import WebResult
from services.search.urls import link_url
from tests.hostile.strategies import BIDI, MENTIONS, hostile_text

INJECTIONS = [">)**\n[Free Nitro](https://phish.example)", ") [x](https://phish.example", "> <@&1>", "\u202egpj.exe",
              " [a](b)", "`code`", "'\"", "\\>"]
urls = st.one_of(
    st.builds("{}://{}{}".format, st.sampled_from(["http", "https", "HTTPS", "javascript", "ftp", ""]),
              st.sampled_from(["example.com", "ex.com:8080", "[::1]", "bücher.de", "", "a@b.c"]),
              st.lists(st.one_of(st.sampled_from(INJECTIONS + BIDI + MENTIONS + ["/path", "?q=1&b=(2)", "#frag"]),
                                 st.text(max_size=6)), max_size=5).map("".join)),
    hostile_text,
)
OUR_LINK = re.compile(r"^\*\*\d+\. \[[^\[\]\n]*\]\(<([^<>\s]*)>\)\*\*$", re.MULTILINE)
ANY_LINK = re.compile(r"(?<!\\)\[[^\]]*\]\(")
# Discord's masked-link rule (simple-markdown): the target ends at the first ")" outside a flat "(...)".
DISCORD_LINK = re.compile(r"\[((?:\[[^\]]*\]|[^\[\]]|\](?=[^\[]*\]))*)\]\(\s*<?((?:\([^)]*\)|[^\s\\]|\\.)*?)>?"
                          r"(?:\s+['\"]([\s\S]*?)['\"])?\s*\)")


def discord_links(text: str) -> list[str]:
    """Targets of every masked link Discord would render, scanning like its parser (left to right)."""
    found, i = [], 0
    while (start := text.find("[", i)) >= 0:
        match = DISCORD_LINK.match(text, start) if not text[:start].endswith("\\") else None
        if match:
            found.append(match.group(2))
            i = match.end()
        else:
            i = start + 1
    return found


@settings(max_examples=400, deadline=None)
@given(raw=urls)
@example(raw="https://example.com/>)**\n[Free Nitro](https://phish.example)")
@example(raw="https://example.com/a)b((c))")
def test_link_urls_cannot_break_out_or_hide(raw: str) -> None:
    url = link_url(raw)
    if url is None:
        return
    parts = urlsplit(url)
    assert parts.scheme.lower() in ("http", "https") and parts.hostname
    assert not re.search(r"[\s<>`\"\\]", url)
    assert not any(c in url for c in BIDI)
    assert link_url(url) == url
    # In a link the way the cog writes it, Discord sees exactly this URL as the target.
    assert discord_links(f"[t](<{url}>)") == [url]


@given(path=st.from_regex(r"/[A-Za-z0-9_./-]{0,30}", fullmatch=True), query=st.from_regex(r"(\?[a-z]=[0-9]{1,3})?",
                                                                                        fullmatch=True))
def test_ordinary_urls_are_unchanged(path: str, query: str) -> None:
    url = f"https://docs.example.org{path}{query}"
    assert link_url(url) == url
    assert link_url("https://en.wikipedia.org/wiki/Python_(programming_language)").endswith("_(programming_language)")


@settings(max_examples=200, deadline=None)
@given(results=st.lists(st.tuples(hostile_text, urls, hostile_text), min_size=1, max_size=5), query=hostile_text)
def test_the_embed_holds_only_the_bots_own_links(results: list[tuple[str, str, str]], query: str) -> None:
    # Titles as the web backends pass them on: one line.
    cleaned = [WebResult(" ".join(title.split()) or "t", url, snippet) for title, raw, snippet in results
               if (url := link_url(raw)) is not None]
    if not cleaned:
        return
    description = web_embed(query, cleaned, "searxng").description or ""
    if len(description) >= 4096:
        return  # clipped: the last link may be cut, which is harmless but breaks the count below
    assert [m.group(1) for m in OUR_LINK.finditer(description)] == [r.url for r in cleaned]
    rest = OUR_LINK.sub("", description)
    assert not ANY_LINK.search(rest), rest
    assert discord_links(description) == [r.url for r in cleaned]


async def test_a_forged_link_from_searxng_stays_inside_its_result(bot_factory, emulator: DiscordEmulator):
    from devtools.fakes.search_servers import FakeSearchServers
    async with FakeSearchServers() as fake:
        await bot_factory(extensions=["cogs.search"], web_search_enabled=True, web_search_engine="searxng",
                          web_search_rate_limit_delay=0, **fake.settings_env())
        fake.searxng_answers["nitro"] = {"results": [
            {"title": "Free [Nitro](https://phish.example)", "url": "https://a.example/>)**\n[Nitro](https://phish.example)",
             "content": "@everyone [claim](https://phish.example) </ban:1>"},
            {"title": "bad scheme", "url": "javascript:alert(1)", "content": "dropped"},
        ]}
        inter = await emulator.invoke(emulator.member("carol"), emulator.channel("general"), "search", query="nitro")
        result = await inter.wait_done(timeout=10)
    [embed] = result.embeds
    [target] = [m.group(1) for m in OUR_LINK.finditer(embed["description"])]
    assert target.startswith("https://a.example/%3E%29")
    assert discord_links(embed["description"]) == [target]
    assert not ANY_LINK.search(OUR_LINK.sub("", embed["description"]))
    assert "dropped" not in embed["description"]
    assert not result.original.versions[-1].mention_everyone
