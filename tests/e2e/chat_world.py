"""What the chat-with-tools end-to-end tests share: the real bot on the local Discord, the fake model server
in either wire format, the search fakes, and read_url pointed at a local "public" site by name."""

from __future__ import annotations

import io
import wave
from collections.abc import Callable
from typing import Any

from PIL import Image

from devtools.discord_emulator import DiscordEmulator
from devtools.fakes.llm_server import FakeLLMServer
from devtools.fakes.search_servers import FakeSearchServers
from services.web import AddressPolicy, PageFetcher
from tests.services.web.conftest import LOCAL, MapResolver, Site

INTERVAL = 0.2


def dialect_env(dialect: str, llm: FakeLLMServer, *, model: str | None = None, vision: bool = False) -> dict[str, Any]:
    """The bot on one wire format only: Ollama (capabilities reported by /api/show) or a plain
    OpenAI-compatible server (which reports none: LLM_TOOL_MODELS / LLM_VISION_MODELS say)."""
    if dialect == "ollama":
        return {"llm_provider": "ollama", "ollama_host": llm.url, "ollama_model": model or "llama3.2"}
    name = model or "gpt-4o-mini"
    return {"llm_provider": "openai", "openai_base_url": llm.openai_url, "openai_model": name,
            "llm_tool_models": f"openai:{name}", "llm_vision_models": f"openai:{name}" if vision else ""}


async def start_bot(bot_factory: Callable[..., Any], llm: FakeLLMServer, search: FakeSearchServers, dialect: str,
                    **overrides: Any) -> Any:
    env = {"web_search_enabled": True, "web_search_engine": "searxng", "web_search_rate_limit_delay": 0,
           "chat_stream_edit_interval": INTERVAL, "api_retry_attempts": 1, **search.settings_env(),
           **dialect_env(dialect, llm, model=overrides.pop("model", None), vision=overrides.pop("vision", False)),
           **overrides}
    return await bot_factory(extensions=["cogs.chat", "cogs.profiles"], **env)


async def use_local_site(bot: Any, site: Site) -> str:
    """read_url's DNS maps news.test to the local site (127.0.0.1 allowed as if public); every other
    check stays as in production. Returns the site's base URL."""
    tool = bot.services.tools.get("read_url")
    await bot.services.page_fetcher.close()
    bot.services.page_fetcher = tool._fetcher = PageFetcher(  # closed by the bot
        policy=AddressPolicy(LOCAL), resolver=MapResolver({"news.test": ["127.0.0.1"]}), timeout=3)
    return f"http://news.test:{site.port}"


def png(color: tuple[int, int, int] = (200, 30, 30), size: tuple[int, int] = (64, 48)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, "PNG")
    return out.getvalue()


def wav(pcm: bytes, rate: int) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm)
    return out.getvalue()


def last_user(llm: FakeLLMServer) -> dict[str, Any]:
    return [m for m in llm.chat_requests[-1].json["messages"] if m["role"] == "user"][-1]


def user_text(message: dict[str, Any]) -> str:
    content = message["content"]
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if p.get("type") == "text")
    return content


async def answer_to(emulator: DiscordEmulator, channel: Any, ends: str, timeout: float = 15) -> Any:
    return await emulator.wait_for_message(channel, lambda m: m.author_id == emulator.bot_user.id and ends in m.content,
                                           timeout=timeout)
