"""What every search source returns, and the one interface web search engines implement.

Results are frozen dataclasses that round-trip through JSON, because they live in the shared
SQLite cache between restarts.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import quote

URBAN_DEFINE_URL = "https://www.urbandictionary.com/define.php?term="
_CROSSLINK = re.compile(r"\[([^\[\]\n]+)\]")


@dataclass(frozen=True)
class WebResult:
    title: str
    url: str
    snippet: str = ""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> WebResult:
        return cls(**data)


@dataclass(frozen=True)
class WikiSummary:
    title: str
    extract: str
    url: str
    description: str = ""
    thumbnail: str | None = None
    kind: str = "standard"  # the REST `type`: standard | disambiguation | no-extract | mainpage
    options: tuple[str, ...] = ()  # a disambiguation page's choices (article titles)
    lang: str = "en"
    from_search: bool = False  # no page had this exact title; this is the best search hit

    @property
    def is_disambiguation(self) -> bool:
        return self.kind == "disambiguation"

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> WikiSummary:
        return cls(**{**data, "options": tuple(data.get("options", ()))})


@dataclass(frozen=True)
class UrbanDefinition:
    word: str
    definition: str  # raw text, [word] cross-links included; see rendered()
    example: str
    author: str
    permalink: str
    thumbs_up: int
    thumbs_down: int
    written_on: str = ""

    @property
    def score(self) -> int:
        return self.thumbs_up - self.thumbs_down

    def rendered(self, *, links: bool = False) -> tuple[str, str]:
        """(definition, example) with cross-links as plain words or as markdown links."""
        return render_crosslinks(self.definition, links=links), render_crosslinks(self.example, links=links)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> UrbanDefinition:
        return cls(**data)


def crosslink_parts(text: str, base_url: str = URBAN_DEFINE_URL) -> list[tuple[str, str | None]]:
    """Urban Dictionary text cut at its [word] cross-links: (text, None) pieces and (word, its page) pieces,
    so a renderer can escape the text and link only the words."""
    parts: list[tuple[str, str | None]] = []
    last = 0
    for match in _CROSSLINK.finditer(text):
        if match.start() > last:
            parts.append((text[last:match.start()], None))
        parts.append((match.group(1), base_url + quote(match.group(1), safe="")))
        last = match.end()
    if last < len(text):
        parts.append((text[last:], None))
    return parts


def render_crosslinks(text: str, *, links: bool = False, base_url: str = URBAN_DEFINE_URL) -> str:
    """Urban Dictionary marks cross-links as [word]: show the word, or link it (Discord markdown)."""
    if not links:
        return _CROSSLINK.sub(r"\1", text)
    return _CROSSLINK.sub(lambda m: f"[{m.group(1)}](<{base_url}{quote(m.group(1), safe='')}>)", text)


class WebSearchBackend(ABC):
    """One web search engine. Callers go through WebSearch, which adds the cache and the shared rate limit."""

    engine: str
    #: False when probing would mean querying a public engine that rate-limits (ddgs).
    can_probe: bool = True

    @abstractmethod
    async def fetch(self, query: str, max_results: int) -> list[WebResult]:
        """Results for an already-cleaned query; an empty list means the engine found nothing."""

    async def probe(self) -> None:
        """A cheap request proving the engine answers; raises ServiceError if it does not."""
        return None

    async def close(self) -> None:
        """Release what the backend holds (threads, connections)."""
        return None
