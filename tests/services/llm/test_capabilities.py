"""Vision and tools per model: the operator's lists, then the server's own report (cached)."""

from __future__ import annotations

from config.settings import ModelRef
from devtools.fakes.llm_server import FakeLLMServer, refused_url
from services.llm.base import GenerationOptions, Timeouts
from services.llm.capabilities import ModelCapabilities
from services.llm.ollama import OllamaProvider
from services.llm.openai_compat import OpenAICompatProvider


def providers(session, server: FakeLLMServer, ollama_url: str | None = None) -> dict:
    t = Timeouts(connect=2, first_token=5, token_gap=5, total=10)
    return {"ollama": OllamaProvider(session, ollama_url or server.url, "llama3.2", options=GenerationOptions(),
                                     timeouts=t),
            "openai": OpenAICompatProvider(session, "openai", server.openai_url, "gpt-4o-mini",
                                           options=GenerationOptions(), timeouts=t)}


async def test_server_reports_decide_when_the_lists_are_empty(session, llm):
    caps = ModelCapabilities(providers(session, llm))
    assert await caps.vision("ollama", "llava:latest") and not await caps.vision("ollama", "llama3.2")
    assert await caps.tools("ollama", "llama3.2") and not await caps.tools("ollama", "llava")
    assert not await caps.tools("openai", "gpt-4o-mini")  # plain /models says nothing: not offered
    shows = [r for r in llm.requests if r.path == "/api/show"]
    await caps.vision("ollama", "llava:latest")
    assert len([r for r in llm.requests if r.path == "/api/show"]) == len(shows)  # cached


async def test_lists_win_and_off_is_off(session, llm):
    caps = ModelCapabilities(providers(session, llm), tool_models=(ModelRef("openai", "gpt-4o-mini"),),
                             vision_models=(ModelRef("openai", "gpt-4o-mini"), ModelRef("ollama", "llama3.2")))
    assert await caps.tools("openai", "gpt-4o-mini")
    assert not await caps.tools("ollama", "llama3.2")  # a non-empty allow-list is exact
    assert await caps.vision("ollama", "llama3.2:latest") and await caps.vision("openai", "gpt-4o-mini")
    off = ModelCapabilities(providers(session, llm), tools_enabled=False, tool_models=(ModelRef("openai", "gpt-4o-mini"),))
    assert not await off.tools("openai", "gpt-4o-mini")


async def test_an_unreachable_server_reports_nothing(session, llm):
    caps = ModelCapabilities(providers(session, llm, ollama_url=refused_url()))
    assert not await caps.vision("ollama", "llava") and not await caps.tools("ollama", "llama3.2")
