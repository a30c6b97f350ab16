"""Web search (ddgs or SearXNG), Wikipedia and Urban Dictionary, behind the shared cache and health store."""

from services.search.base import UrbanDefinition, WebResult, WebSearchBackend, WikiSummary, render_crosslinks
from services.search.errors import InvalidQuery, SearchBusy, SearchRateLimited, SearchTimeout
from services.search.factory import SearchServices, build_search
from services.search.query import clean_query
from services.search.urban import UrbanDictionaryClient
from services.search.web import WebSearch
from services.search.wikipedia import WikipediaClient

__all__ = [
    "InvalidQuery", "SearchBusy", "SearchRateLimited", "SearchServices", "SearchTimeout", "UrbanDefinition",
    "UrbanDictionaryClient", "WebResult", "WebSearch", "WebSearchBackend", "WikiSummary", "WikipediaClient",
    "build_search", "clean_query", "render_crosslinks",
]
