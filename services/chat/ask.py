"""/ask: fresh web and Wikipedia results as numbered sources, the request that cites them, the footer.

The model is told to cite with [n]; the footer lists the same numbers as links, so every citation
points at a result the model was actually given. A search that fails is not fatal: the answer comes
from the model alone and the footer says so.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from services.errors import ServiceError
from services.limits.requester import Requester
from services.llm import Message
from services.search import SearchServices, WebResult, WikiSummary

log = logging.getLogger(__name__)

SNIPPET_CHARS = 500
WIKI_CHARS = 1500

ASK_INSTRUCTIONS = (
    "Answer the user's question using the numbered sources below when they help. Cite a source as [n] "
    "right after the statement it supports, using only the numbers listed. If the sources do not answer "
    "the question, say so and answer from what you know."
)


@dataclass(frozen=True)
class Source:
    number: int
    title: str
    url: str
    text: str


@dataclass(frozen=True)
class AskContext:
    question: str
    sources: tuple[Source, ...]
    failures: tuple[str, ...] = ()  # e.g. "Web search", for the footer

    def messages(self, system_prompt: str, author_name: str | None = None) -> list[Message]:
        if self.sources:
            listing = "\n\n".join(f"[{s.number}] {s.title} ({s.url})\n{s.text}" for s in self.sources)
        else:
            listing = "(no sources could be fetched)"
        system = "\n\n".join(p for p in (system_prompt, ASK_INSTRUCTIONS, "Sources:\n" + listing) if p)
        return [Message("system", system), Message("user", self.question, author_name)]

    def footer(self) -> str:
        """Numbered links (angle brackets: no link previews), and what could not be searched."""
        lines = source_links(self.sources)
        if self.failures:
            lines.append(f"*{' and '.join(self.failures)} failed, so this answer may lack fresh facts.*")
        elif not self.sources:
            lines.append("*No search results; this answer is from the model alone.*")
        return "\n".join(lines)


async def gather_context(search: SearchServices, question: str, *, requester: Requester | None = None) -> AskContext:
    """Web and Wikipedia at the same time; each may fail on its own. The web search waits in line for
    `requester` like /search does."""
    web, wiki = await asyncio.gather(_web(search, question, requester), _wiki(search, question))
    results, failures = [], []
    for name, outcome in (("Web search", web), ("Wikipedia", wiki)):
        if isinstance(outcome, ServiceError):
            failures.append(name)
        else:
            results.extend(outcome)
    seen: set[str] = set()
    sources = []
    for title, url, text in results:
        if url in seen:
            continue
        seen.add(url)
        sources.append(Source(len(sources) + 1, title, url, text))
    return AskContext(question, tuple(sources), tuple(failures))


async def _web(search: SearchServices, question: str,
               requester: Requester | None) -> list[tuple[str, str, str]] | ServiceError:
    if not search.web.enabled:
        return []
    try:
        results: list[WebResult] = await search.web.search(question, requester=requester)
    except ServiceError as exc:
        log.warning("/ask web search failed: %s", exc)
        return exc
    return [(r.title, r.url, _clip(r.snippet, SNIPPET_CHARS)) for r in results]


async def _wiki(search: SearchServices, question: str) -> list[tuple[str, str, str]] | ServiceError:
    try:
        summary: WikiSummary | None = await search.wikipedia.summary(question)
    except ServiceError as exc:
        log.warning("/ask Wikipedia lookup failed: %s", exc)
        return exc
    if summary is None or summary.is_disambiguation or not summary.extract:
        return []
    return [(f"{summary.title} (Wikipedia)", summary.url, _clip(summary.extract, WIKI_CHARS))]


def source_links(sources: tuple[Source, ...] | list[Source]) -> list[str]:
    """"**Sources**" then one numbered link per source (angle brackets: no link previews); chat's tool
    answers list theirs the same way."""
    if not sources:
        return []
    return ["**Sources**", *(f"{s.number}. [{_link_text(s.title)}](<{s.url}>)" for s in sources)]


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _link_text(text: str) -> str:
    """Text safe inside [text](url): brackets would end the link early."""
    return text.replace("[", "(").replace("]", ")").replace("*", "").replace("_", " ")
