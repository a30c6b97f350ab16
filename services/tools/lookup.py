"""Tools that bring text in from outside: web_search, wikipedia, read_url. Each result is numbered in
the answer's SourceBook, so the model cites [n] and the footer lists the same numbers as links."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from services.search import SearchServices
from services.tools.base import Tool, ToolContext, ToolResult, ToolUnavailable, schema
from services.web import PageFetcher

SNIPPET_CHARS = 500
WIKI_CHARS = 1500


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


class WebSearchTool(Tool):
    name = "web_search"
    description = "Search the web. Returns numbered results (title, link, snippet) to cite as [n]."
    parameters = schema({"query": {"type": "string", "maxLength": 300, "description": "What to search for."}})
    external_text = True

    def __init__(self, search: SearchServices) -> None:
        self._search = search

    async def run(self, args: Mapping[str, Any], ctx: ToolContext) -> ToolResult:
        if not self._search.web.enabled:
            raise ToolUnavailable("web search is turned off on this bot")
        results = await self._search.web.search(args["query"])
        if not results:
            return ToolResult(f"No web results for {args['query']!r}.")
        lines = [f"[{ctx.sources.cite(r.title, r.url, r.snippet)}] {r.title} ({r.url})\n{_clip(r.snippet, SNIPPET_CHARS)}"
                 for r in results]
        return ToolResult("\n\n".join(lines))


class WikipediaTool(Tool):
    name = "wikipedia"
    description = "Look up a topic on Wikipedia. Returns the article summary, numbered to cite as [n]."
    parameters = schema({"topic": {"type": "string", "maxLength": 300, "description": "Article title or topic."}})
    external_text = True

    def __init__(self, search: SearchServices) -> None:
        self._search = search

    async def run(self, args: Mapping[str, Any], ctx: ToolContext) -> ToolResult:
        summary = await self._search.wikipedia.summary(args["topic"])
        if summary is None:
            return ToolResult(f"No Wikipedia article found for {args['topic']!r}.")
        if summary.is_disambiguation:
            options = ", ".join(summary.options[:10]) or "several articles"
            return ToolResult(f"{summary.title!r} is ambiguous; it may mean: {options}.")
        number = ctx.sources.cite(f"{summary.title} (Wikipedia)", summary.url, summary.extract)
        return ToolResult(f"[{number}] {summary.title} ({summary.url})\n{_clip(summary.extract, WIKI_CHARS)}")


class ReadUrlTool(Tool):
    name = "read_url"
    description = ("Read one web page (http or https link) and return its readable text, numbered to cite as [n]. "
                   "Use it when the member shares a link or asks about a page.")
    parameters = schema({"url": {"type": "string", "maxLength": 2000, "description": "The full http(s) link."}})
    external_text = True

    def __init__(self, fetcher: PageFetcher) -> None:
        self._fetcher = fetcher

    async def run(self, args: Mapping[str, Any], ctx: ToolContext) -> ToolResult:
        page = await self._fetcher.read(args["url"])
        title = page.title or page.url
        number = ctx.sources.cite(title, page.url, page.text[:SNIPPET_CHARS])
        cut = " (cut short)" if page.truncated else ""
        return ToolResult(f"[{number}] {title} ({page.url}){cut}\n{page.text}")
