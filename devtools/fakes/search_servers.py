"""Local stand-ins for Wikipedia, Urban Dictionary and SearXNG, speaking their real wire formats.

One aiohttp server on 127.0.0.1 (port 0) serves:
  Wikipedia     GET /api/rest_v1/page/summary/{title}   REST summary (302 for redirects, 404 HyperSwitch body)
                GET /w/api.php?action=query&list=search  search (formatversion=2 shape)
                GET /w/api.php?action=query&prop=links   a page's links
  Urban         GET /v0/define?term=...                  {"list": [...]}
  SearXNG       GET /searxng/search?q=...&format=json    403 unless JSON is enabled
                GET /searxng/config

Per test: fill the dictionaries (pages, search hits, links, definitions, SearXNG answers) and
script the next responses of a route (status, JSON body, headers such as Retry-After, delay).
Every request is recorded with its exact raw path and headers. Usage:

    async with FakeSearchServers() as fake:
        fake.add_wiki_page("Python (programming language)", "Python is ...")
        env = fake.settings_env()   # WIKIPEDIA_BASE_URL, URBAN_DICTIONARY_API_URL, SEARXNG_URL
"""

from __future__ import annotations

import asyncio
import json
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, unquote

from aiohttp import web

ROUTES = ("wiki_summary", "wiki_api", "urban", "searxng", "searxng_config")
SUMMARY_PREFIX = "/api/rest_v1/page/summary/"
_INVALID_TITLE_CHARS = set("#<>[]{}|")


@dataclass
class Scripted:
    """One canned answer: replaces the route's normal behaviour for one request."""

    status: int = 200
    json_body: Any = None
    text: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds before answering (cut short when the server closes)


@dataclass(frozen=True)
class Recorded:
    route: str
    method: str
    raw_path: str  # path and query exactly as sent, percent-encoding included
    path: str  # decoded path
    query: dict[str, str]
    headers: dict[str, str]


def wiki_page(title: str, extract: str = "", *, kind: str = "standard", description: str = "",
              lang: str = "en", host: str = "en.wikipedia.org", thumbnail: bool = True,
              pageid: int = 1) -> dict[str, Any]:
    """A REST v1 summary payload with the fields and nesting Wikipedia really returns."""
    canonical = title.replace(" ", "_")
    page_url = f"https://{host}/wiki/{quote(canonical, safe=';@$!*(),~:/')}"
    data: dict[str, Any] = {
        "type": kind,
        "title": title,
        "displaytitle": f'<span class="mw-page-title-main">{title}</span>',
        "namespace": {"id": 0, "text": ""},
        "wikibase_item": f"Q{pageid}",
        "titles": {"canonical": canonical, "normalized": title, "display": title},
        "pageid": pageid,
        "lang": lang,
        "dir": "ltr",
        "revision": "1234567890",
        "tid": "e7d3c6a2-0000-11ef-8000-000000000000",
        "timestamp": "2026-01-01T00:00:00Z",
        "content_urls": {
            "desktop": {"page": page_url, "revisions": f"{page_url}?action=history",
                        "edit": f"{page_url}?action=edit", "talk": f"https://{host}/wiki/Talk:{canonical}"},
            "mobile": {"page": page_url.replace(host, host.replace(".wikipedia", ".m.wikipedia"))},
        },
        "extract": extract,
        "extract_html": f"<p>{extract}</p>",
    }
    if description:
        data["description"] = description
        data["description_source"] = "local"
    if thumbnail and kind == "standard":
        source = f"https://upload.wikimedia.org/wikipedia/commons/thumb/a/ab/{canonical}.png/320px-{canonical}.png"
        data["thumbnail"] = {"source": source, "width": 320, "height": 240}
        data["originalimage"] = {"source": source.replace("/thumb", ""), "width": 1024, "height": 768}
    return data


def urban_entry(word: str, definition: str, example: str = "", *, thumbs_up: int = 0, thumbs_down: int = 0,
                author: str = "someone", defid: int = 1) -> dict[str, Any]:
    """One element of Urban Dictionary's /v0/define list."""
    return {
        "definition": definition,
        "permalink": f"http://{quote(word)}.urbanup.com/{defid}",
        "thumbs_up": thumbs_up,
        "author": author,
        "word": word,
        "defid": defid,
        "current_vote": "",
        "written_on": "2012-03-04T05:06:07.000Z",
        "example": example,
        "thumbs_down": thumbs_down,
    }


def searxng_result(title: str, url: str, content: str = "", engine: str = "duckduckgo") -> dict[str, Any]:
    """One element of SearXNG's JSON `results`."""
    return {
        "url": url, "title": title, "content": content, "engine": engine,
        "parsed_url": ["https", url.split("/")[2] if "//" in url else url, "/", "", "", ""],
        "template": "default.html", "engines": [engine], "positions": [1], "score": 1.0,
        "category": "general", "publishedDate": None, "thumbnail": "",
    }


def _wiki_key(title: str) -> str:
    title = " ".join(title.replace("_", " ").split())
    return title[:1].upper() + title[1:]


class FakeSearchServers:
    def __init__(self) -> None:
        self.wiki_pages: dict[str, dict[str, Any]] = {}  # normalised title -> REST summary payload
        self.wiki_redirects: dict[str, str] = {}  # from title -> to title
        self.wiki_search_hits: dict[str, list[str]] = {}  # srsearch -> titles; default: substring match
        self.wiki_links: dict[str, list[str]] = {}  # title -> linked article titles
        self.urban_terms: dict[str, list[dict[str, Any]]] = {}  # casefolded term -> list entries
        self.searxng_answers: dict[str, dict[str, Any]] = {}  # q -> partial payload (results, unresponsive_engines)
        self.searxng_default: Callable[[str], dict[str, Any]] | None = None  # builds the answer to other queries
        self.searxng_json_enabled = True
        self.requests: list[Recorded] = []
        self._scripts: dict[str, deque[Scripted]] = {r: deque() for r in ROUTES}
        self._closing = asyncio.Event()
        self._seen = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self.url = ""

    # --- set-up ----------------------------------------------------------------------------

    def add_wiki_page(self, title: str, extract: str = "", **kwargs: Any) -> dict[str, Any]:
        page = wiki_page(title, extract, pageid=len(self.wiki_pages) + 1, **kwargs)
        self.wiki_pages[_wiki_key(title)] = page
        return page

    def add_disambiguation(self, title: str, options: list[str]) -> dict[str, Any]:
        page = self.add_wiki_page(title, f"{title} may refer to:", kind="disambiguation", thumbnail=False)
        self.wiki_links[_wiki_key(title)] = options
        return page

    def add_urban(self, term: str, *entries: dict[str, Any]) -> None:
        self.urban_terms[term.casefold()] = list(entries)

    def script(self, route: str, *responses: Scripted) -> None:
        """The next requests to route get these answers, in order, before normal behaviour resumes."""
        if route not in ROUTES:
            raise ValueError(f"unknown route {route!r}; one of {ROUTES}")
        self._scripts[route].extend(responses)

    def fail(self, route: str, status: int, *, times: int = 1, retry_after: str | None = None,
             json_body: Any = None) -> None:
        headers = {"Retry-After": retry_after} if retry_after is not None else {}
        body = json_body if json_body is not None else {"error": f"HTTP {status}"}
        self.script(route, *[Scripted(status=status, json_body=body, headers=headers) for _ in range(times)])

    def slow(self, route: str, seconds: float, *, times: int = 1) -> None:
        """Answer normally-shaped JSON, but only after `seconds` (or when the server closes)."""
        self.script(route, *[Scripted(delay=seconds, json_body={}) for _ in range(times)])

    def settings_env(self) -> dict[str, str]:
        return {"WIKIPEDIA_BASE_URL": self.wikipedia_url, "URBAN_DICTIONARY_API_URL": self.urban_url,
                "SEARXNG_URL": self.searxng_url}

    @property
    def wikipedia_url(self) -> str:
        return self.url

    @property
    def urban_url(self) -> str:
        return f"{self.url}/v0"

    @property
    def searxng_url(self) -> str:
        return f"{self.url}/searxng"

    def requests_to(self, route: str) -> list[Recorded]:
        return [r for r in self.requests if r.route == route]

    async def wait_for_requests(self, route: str, count: int, timeout: float = 5.0) -> None:
        """Until `count` requests reached route (for tests that act while a request is in flight)."""
        async with asyncio.timeout(timeout), self._seen:
            await self._seen.wait_for(lambda: len(self.requests_to(route)) >= count)

    # --- life cycle --------------------------------------------------------------------------

    async def start(self) -> str:
        app = web.Application()
        app.router.add_get("/api/rest_v1/page/summary/{tail:.*}", self._wiki_summary)
        app.router.add_get("/w/api.php", self._wiki_api)
        app.router.add_get("/v0/define", self._urban)
        app.router.add_get("/searxng/search", self._searxng)
        app.router.add_get("/searxng/config", self._searxng_config)
        self._runner = web.AppRunner(app, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}"
        return self.url

    async def close(self) -> None:
        self._closing.set()  # release delayed answers
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeSearchServers:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # --- plumbing ----------------------------------------------------------------------------

    async def _record(self, route: str, request: web.Request) -> Scripted | None:
        self.requests.append(Recorded(route, request.method, request.raw_path, request.path,
                                      dict(request.query), dict(request.headers)))
        async with self._seen:
            self._seen.notify_all()
        scripts = self._scripts[route]
        scripted = scripts.popleft() if scripts else None
        if scripted is not None and scripted.delay:
            try:
                await asyncio.wait_for(self._closing.wait(), scripted.delay)
            except TimeoutError:
                pass
        return scripted

    @staticmethod
    def _answer(scripted: Scripted) -> web.Response:
        if scripted.text is not None:
            return web.Response(status=scripted.status, text=scripted.text, headers=scripted.headers)
        return web.json_response(scripted.json_body, status=scripted.status, headers=scripted.headers,
                                 dumps=lambda o: json.dumps(o, ensure_ascii=False))

    @staticmethod
    def _json(data: Any, status: int = 200) -> web.Response:
        return web.json_response(data, status=status, dumps=lambda o: json.dumps(o, ensure_ascii=False))

    # --- Wikipedia -------------------------------------------------------------------------

    async def _wiki_summary(self, request: web.Request) -> web.StreamResponse:
        scripted = await self._record("wiki_summary", request)
        if scripted is not None:
            return self._answer(scripted)
        raw_title = request.raw_path.split("?", 1)[0][len(SUMMARY_PREFIX):]
        title = unquote(raw_title)
        uri = f"/en.wikipedia.org/v1/page/summary/{raw_title}"
        if not title or _INVALID_TITLE_CHARS & set(title):
            return self._json({"type": "https://mediawiki.org/wiki/HyperSwitch/errors/bad_request",
                               "title": "Bad Request", "method": "get", "detail": "title-invalid-characters",
                               "uri": uri}, status=400)
        key = _wiki_key(title)
        if key in self.wiki_redirects:
            target = self.wiki_redirects[key].replace(" ", "_")
            # RESTBase answers a redirect page with a relative Location.
            raise web.HTTPFound(location=quote(target, safe=";@$!*(),~:"))
        page = self.wiki_pages.get(key)
        if page is None:
            return self._json({"type": "https://mediawiki.org/wiki/HyperSwitch/errors/not_found",
                               "title": "Not found.", "method": "get", "detail": "Page or revision not found.",
                               "uri": uri}, status=404)
        return self._json(page)

    async def _wiki_api(self, request: web.Request) -> web.Response:
        scripted = await self._record("wiki_api", request)
        if scripted is not None:
            return self._answer(scripted)
        q = request.query
        if q.get("action") != "query" or q.get("format") != "json":
            return self._json({"error": {"code": "badvalue", "info": "Unrecognized value for parameter \"action\"."},
                               "servedby": "mw-api-ext.fake"})
        if q.get("list") == "search":
            return self._json(self._search(q.get("srsearch", ""), int(q.get("srlimit", "10"))))
        if q.get("prop") == "links":
            return self._json(self._links(q.get("titles", ""), int(q.get("pllimit", "10"))))
        return self._json({"batchcomplete": True})

    def _search(self, query: str, limit: int) -> dict[str, Any]:
        if query in self.wiki_search_hits:
            titles = self.wiki_search_hits[query]
        else:
            needle = query.casefold()
            titles = [p["title"] for p in self.wiki_pages.values()
                      if needle in p["title"].casefold() or needle in p["extract"].casefold()]
        hits = [{"ns": 0, "title": t, "pageid": 1000 + i} for i, t in enumerate(titles[:limit])]
        data: dict[str, Any] = {"batchcomplete": True,
                                "query": {"searchinfo": {"totalhits": len(titles)}, "search": hits}}
        if len(titles) > limit:
            data["continue"] = {"sroffset": limit, "continue": "-||"}
        return data

    def _links(self, title: str, limit: int) -> dict[str, Any]:
        key = _wiki_key(title)
        page = self.wiki_pages.get(key)
        if page is None:
            return {"batchcomplete": True, "query": {"pages": [{"ns": 0, "title": title, "missing": True}]}}
        links = sorted(self.wiki_links.get(key, []))
        entry = {"pageid": page["pageid"], "ns": 0, "title": page["title"],
                 "links": [{"ns": 0, "title": t} for t in links[:limit]]}
        data: dict[str, Any] = {"query": {"pages": [entry]}}
        if len(links) > limit:
            data["continue"] = {"plcontinue": f"{page['pageid']}|0|{links[limit]}", "continue": "||"}
        else:
            data["batchcomplete"] = True
        return data

    # --- Urban Dictionary --------------------------------------------------------------------

    async def _urban(self, request: web.Request) -> web.Response:
        scripted = await self._record("urban", request)
        if scripted is not None:
            return self._answer(scripted)
        term = request.query.get("term", "")
        return self._json({"list": self.urban_terms.get(term.casefold(), [])})

    # --- SearXNG -----------------------------------------------------------------------------

    async def _searxng(self, request: web.Request) -> web.Response:
        scripted = await self._record("searxng", request)
        if scripted is not None:
            return self._answer(scripted)
        if request.query.get("format") != "json" or not self.searxng_json_enabled:
            return web.Response(status=403, text="<html><body><h1>403 Forbidden</h1></body></html>",
                                content_type="text/html")
        q = request.query.get("q", "")
        answer = self.searxng_answers.get(q) or (self.searxng_default(q) if self.searxng_default else {})
        results = answer.get("results", [])
        return self._json({
            "query": q, "number_of_results": len(results), "results": results, "answers": [],
            "corrections": [], "infoboxes": [], "suggestions": [],
            "unresponsive_engines": answer.get("unresponsive_engines", []),
        })

    async def _searxng_config(self, request: web.Request) -> web.Response:
        scripted = await self._record("searxng_config", request)
        if scripted is not None:
            return self._answer(scripted)
        return self._json({
            "categories": ["general", "images"], "default_locale": "", "default_theme": "simple",
            "engines": [{"name": "duckduckgo", "categories": ["general"], "enabled": True, "shortcut": "ddg"}],
            "instance_name": "SearXNG", "locales": {"en": "English"}, "plugins": [], "safe_search": 0,
            "autocomplete": "", "public_instance": False, "version": "2026.1.1",
        })
