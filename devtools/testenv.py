"""Settings for a bot that runs against the local Discord and local fake servers.

Shared by the tests, the benchmarks and the playground: nothing here is a pytest fixture.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from devtools.fakes.llm_server import FakeLLMServer
from devtools.fakes.search_servers import FakeSearchServers

# Every external service points at a closed local port unless a fake server is given:
# nothing leaves the machine, and failures are immediate "connection refused".
CLOSED_PORT_URL = "http://127.0.0.1:9"

TEXT_COGS = ["cogs.admin", "cogs.chat", "cogs.search", "cogs.reminders"]


def bot_test_env(database_path: Path) -> dict[str, str]:
    """Settings for the bot under test: short timeouts, no retries to wait out, no real network."""
    return {
        "DATABASE_PATH": str(database_path),
        "LOG_LEVEL": "DEBUG",
        "API_REQUEST_TIMEOUT": "5",
        "API_RETRY_ATTEMPTS": "2",
        "API_RETRY_DELAY": "0.01",
        "API_RETRY_MAX_DELAY": "0.1",
        "LLM_CONNECT_TIMEOUT": "2",
        "LLM_FIRST_TOKEN_TIMEOUT": "5",
        "LLM_TOKEN_GAP_TIMEOUT": "5",
        "LLM_TOTAL_TIMEOUT": "10",
        "LLM_CIRCUIT_COOLDOWN": "1",
        "OLLAMA_HOST": CLOSED_PORT_URL,
        "OPENROUTER_BASE_URL": CLOSED_PORT_URL,
        "WIKIPEDIA_BASE_URL": CLOSED_PORT_URL,
        "URBAN_DICTIONARY_API_URL": CLOSED_PORT_URL,
        "WEB_SEARCH_ENABLED": "false",
        "HEALTH_PROBE_TIMEOUT": "1",
        "CHAT_USER_COOLDOWN": "0",
        "CHAT_STREAM_EDIT_INTERVAL": "0.2",
    }


def env_value(value: Any) -> str:
    """Python values as the environment spells them: True -> "true", (1, 2) -> "1,2", None -> ""."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    if isinstance(value, list | tuple | set):
        return ",".join(env_value(v) for v in value)
    return str(value)


def service_env(llm: FakeLLMServer, search: FakeSearchServers, **overrides: Any) -> dict[str, Any]:
    """Ollama first, the same fake's OpenAI dialect as the fallback; SearXNG and Wikipedia on the fakes."""
    return {"ollama_host": llm.url, "openai_base_url": llm.openai_url, "llm_fallback_enabled": True,
            "llm_fallback_models": "openai:gpt-4o-mini", "web_search_enabled": True,
            "web_search_engine": "searxng", "web_search_rate_limit_delay": 0, "chat_stream_edit_interval": 0.2,
            "log_level": "INFO", **search.settings_env(), **overrides}
