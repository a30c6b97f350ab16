"""Text others wrote, posted under the bot's name (reminders, Wikipedia, Urban Dictionary, /say), renders
as typed: no masked link, heading, quote, subtext or invite card survives discord_ui.escape.inert."""

from __future__ import annotations

import re

from hypothesis import example, given, settings
from hypothesis import strategies as st

from discord_ui.escape import ZERO_WIDTH_SPACE, inert
from tests.hostile.strategies import hostile_text

MARKDOWN = ["[", "]", "(", ")", "<", ">", "#", "-#", "*", "_", "~", "|", "`", "\\", "\n", " ", "https://", "http://x.y/",
            "discord.gg/", "discord.com/invite/", "discordapp.com/invite/", "DISCORD.GG/", "](", ")[", "> ", "### "]
markdown_text = st.lists(st.one_of(st.sampled_from(MARKDOWN), st.text(alphabet="ab/.:", max_size=4)), max_size=40).map("".join)
texts = st.one_of(markdown_text, hostile_text)

URL = re.compile(r"(?:https?|steam)://[^\s<]+[^<.,:;\"')\]\s]")
INVITE = re.compile(r"(?i)discord(?:app)?\.(?:gg|com/invite)/")


def unescaped_brackets(text: str) -> list[int]:
    """Positions of `[` Discord would read as markdown: outside bare URLs, after an even run of backslashes."""
    found, i = [], 0
    while i < len(text):
        url = URL.match(text, i) if text.startswith(("http", "steam"), i) else None
        if url:
            i = url.end()
            continue
        if text[i] == "\\":
            i += 2  # an escape takes the next character with it
            continue
        if text[i] == "[":
            found.append(i)
        i += 1
    return found


def discord_unescape(text: str) -> str:
    """What a reader sees: a backslash before punctuation disappears, bare URLs are shown as they are."""
    out, last = [], 0
    for url in URL.finditer(text):
        out.append(re.sub(r"\\([^0-9A-Za-z\s])", r"\1", text[last:url.start()]))
        out.append(url.group(0))
        last = url.end()
    out.append(re.sub(r"\\([^0-9A-Za-z\s])", r"\1", text[last:]))
    return "".join(out).replace(ZERO_WIDTH_SPACE, "")


@settings(max_examples=500, deadline=None)
@given(text=texts)
@example(text="[Free Nitro](https://phish.example)")
@example(text="\\[x](https://phish.example)")  # a backslash of its own does not escape our bracket
@example(text="# Heading\n-# subtext\n> quote\n>>> block")
@example(text="join discord.gg/abc or https://discord.com/invite/xyz")
def test_nothing_renders_as_markdown_or_an_invite(text: str) -> None:
    out = inert(text)
    assert unescaped_brackets(out) == [], out
    for line in out.split("\n"):
        stripped = line.lstrip(" \t")
        assert not stripped.startswith(("#", ">", "-")), line
    assert not INVITE.search(out), out
    for mark in ("**", "||", "__", "~~", "`"):
        assert mark not in re.sub(r"\\.", "", URL.sub("", out)), (mark, out)


@settings(max_examples=300, deadline=None)
@given(text=texts.filter(lambda t: "://" not in t and ZERO_WIDTH_SPACE not in t))
@example(text="**not bold**, [not a link](x) and well-known - dashes")
def test_readers_see_exactly_what_was_typed(text: str) -> None:
    assert discord_unescape(inert(text)) == text
