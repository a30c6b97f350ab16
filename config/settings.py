"""Typed settings, declared once and validated at start-up.

Each field below is one environment variable (its name upper-cased). The declarations are the
single source for parsing, validation, `--check` output and `.env.example`, so the three never
drift apart. Nothing else in the project reads `os.environ`.
"""

from __future__ import annotations

import dataclasses
import math
import re
import zoneinfo
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import urlsplit

from config.errors import SettingsError, SettingsErrors, combined
from config.rules import combination_errors, is_hosted_api
from services.redact import redact, url_credentials
from services.shards import Shards

__all__ = ["ModelRef", "Settings", "SettingsError", "SettingsErrors", "env_example", "load_settings"]

LLM_PROVIDERS = ("ollama", "openrouter", "openai")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
WEB_SEARCH_ENGINES = (
    "duckduckgo", "brave", "mojeek", "startpage", "yahoo", "wikipedia", "searxng",
)
STT_ENGINES = ("whisper", "whisper_cpp")
VAD_ENGINES = ("silero", "webrtc")
TTS_ENGINES = ("kokoro_api",)
SAFESEARCH = ("on", "moderate", "off")
TOOL_MODES = ("auto", "off")
REASONING_MODES = ("drop", "collapsed")
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


class ModelRef(NamedTuple):
    provider: str
    model: str


class _Spec(NamedTuple):
    section: str
    help: str
    parse: Callable[[str, str], Any]
    secret: bool
    required: bool


def _field(default: Any, section: str, help: str, parse: Callable[[str, str], Any], *,
           secret: bool = False, required: bool = False) -> Any:
    return field(default=default, metadata={"spec": _Spec(section, help, parse, secret, required)})


# --- value parsers: (setting name, raw text) -> typed value, or SettingsError -------------------

def _parse_str(name: str, raw: str) -> str:
    return raw


def _parse_int(minimum: int | None = None, maximum: int | None = None) -> Callable[[str, str], int]:
    def parse(name: str, raw: str) -> int:
        try:
            value = int(raw)
        except ValueError:
            raise SettingsError(name, f"must be a whole number, got {raw!r}") from None
        _check_range(name, value, minimum, maximum)
        return value
    return parse


def _parse_float(minimum: float | None = None, maximum: float | None = None) -> Callable[[str, str], float]:
    def parse(name: str, raw: str) -> float:
        try:
            value = float(raw)
        except ValueError:
            raise SettingsError(name, f"must be a number, got {raw!r}") from None
        if not math.isfinite(value):
            raise SettingsError(name, f"must be a finite number, got {raw!r}")
        _check_range(name, value, minimum, maximum)
        return value
    return parse


def _check_range(name: str, value: float, minimum: float | None, maximum: float | None) -> None:
    if minimum is not None and value < minimum:
        raise SettingsError(name, f"must be at least {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise SettingsError(name, f"must be at most {maximum}, got {value}")


def _parse_bool(name: str, raw: str) -> bool:
    low = raw.strip().lower()
    if low in _TRUE:
        return True
    if low in _FALSE:
        return False
    raise SettingsError(name, f"must be true or false (also 1/0, yes/no, on/off), got {raw!r}")


def _parse_choice(choices: tuple[str, ...], *, upper: bool = False) -> Callable[[str, str], str]:
    def parse(name: str, raw: str) -> str:
        value = raw.strip().upper() if upper else raw.strip().lower()
        if value not in choices:
            raise SettingsError(name, f"must be one of {', '.join(choices)}; got {raw!r}")
        return value
    return parse


def _parse_url(optional: bool) -> Callable[[str, str], str]:
    def parse(name: str, raw: str) -> str:
        value = raw.strip()
        if not value and optional:
            return ""
        try:
            parts = urlsplit(value)  # raises on "http://[" and on netlocs that change under NFKC
            parts.port  # noqa: B018 - raises on a bad port
        except ValueError:
            raise SettingsError(name, f"must be an http(s) URL with a valid port, got {raw!r}") from None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            hint = " or empty to turn it off" if optional else ""
            raise SettingsError(
                name, f"must be an http:// or https:// URL such as http://localhost:8080{hint}, got {raw!r}"
            )
        return value.rstrip("/")
    return parse


def _parse_ids(name: str, raw: str) -> tuple[int, ...]:
    ids = []
    for part in _split_list(raw):
        if not _is_number(part, 20):
            raise SettingsError(name, f"must be a comma-separated list of Discord ids (digits), got {part!r}")
        ids.append(int(part))
    return tuple(ids)


def _parse_optional_id(name: str, raw: str) -> int | None:
    raw = raw.strip()
    if not raw:
        return None
    if not _is_number(raw, 20):
        raise SettingsError(name, f"must be a Discord id (digits) or empty, got {raw!r}")
    return int(raw)


def _parse_model_refs(name: str, raw: str) -> tuple[ModelRef, ...]:
    refs = []
    for part in _split_list(raw):
        provider, sep, model = part.partition(":")
        provider = provider.strip().lower()
        if not sep or not model.strip():
            raise SettingsError(name, f"entries must look like provider:model (e.g. ollama:llama3.2:1b), got {part!r}")
        if provider not in LLM_PROVIDERS:
            raise SettingsError(name, f"provider must be one of {', '.join(LLM_PROVIDERS)}; got {provider!r} in {part!r}")
        refs.append(ModelRef(provider, model.strip()))
    return tuple(refs)


def _parse_budget(name: str, raw: str) -> tuple[tuple[str, int], ...]:
    """`50000` applies to every provider; `openrouter:50000,openai:20000` sets each one."""
    raw = raw.strip()
    if not raw or raw == "0":
        return ()
    if _is_number(raw, 18):
        return tuple((p, int(raw)) for p in LLM_PROVIDERS)
    budgets = []
    for part in _split_list(raw):
        provider, _, amount = part.partition(":")
        provider = provider.strip().lower()
        amount = amount.strip()
        if provider not in LLM_PROVIDERS or not _is_number(amount, 18):
            raise SettingsError(
                name, f"must be a token count or provider:tokens pairs with provider in "
                f"{', '.join(LLM_PROVIDERS)}; got {part!r}"
            )
        budgets.append((provider, int(amount)))
    return tuple(budgets)


def _parse_database_url(name: str, raw: str) -> str:
    """postgresql://user:password@host:5432/database (or postgres://); empty = SQLite at DATABASE_PATH."""
    value = raw.strip()
    if not value:
        return ""
    shown = redact(value)
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        raise SettingsError(name, f"must be a postgresql:// URL with a valid port, got {shown!r}") from None
    if parts.scheme not in ("postgresql", "postgres"):
        raise SettingsError(name, "must start with postgresql:// (e.g. postgresql://bot:secret@localhost:5432/bot), "
                            f"or be empty to use SQLite at DATABASE_PATH; got {shown!r}")
    if not parts.hostname and "host=" not in parts.query:
        raise SettingsError(name, f"names no host: postgresql://user:password@HOST:5432/database, got {shown!r}")
    if not parts.path.strip("/"):
        raise SettingsError(name, f"names no database: postgresql://user:password@host:5432/DATABASE, got {shown!r}")
    return value


def _parse_shard_ids(name: str, raw: str) -> tuple[int, ...]:
    ids = []
    for part in _split_list(raw):
        if not _is_number(part, 5):
            raise SettingsError(name, f"must be a comma-separated list of shard numbers (0, 1, ...), got {part!r}")
        if int(part) in ids:
            raise SettingsError(name, f"lists shard {int(part)} twice")
        ids.append(int(part))
    return tuple(ids)


AUTO = "auto"
DEFAULT_LLM_CONCURRENCY = (("ollama", 4), ("openrouter", 16), ("openai", 16))
PAID_DAILY_BUDGET = 500_000  # tokens a day for a hosted, paid API unless LLM_DAILY_TOKEN_BUDGET says otherwise


def _parse_auto(parse: Callable[[str, str], Any]) -> Callable[[str, str], Any]:
    """`auto` (the default: chosen from other settings) or a value `parse` accepts."""
    def parse_or_auto(name: str, raw: str) -> Any:
        return AUTO if raw.strip().lower() == AUTO else parse(name, raw)
    return parse_or_auto


def _parse_concurrency(name: str, raw: str) -> tuple[tuple[str, int], ...]:
    """`4` applies to every provider; `ollama:2,openai:8` sets those and keeps the others' defaults."""
    raw = raw.strip()
    if _is_number(raw, 6) and int(raw) >= 1:
        return tuple((p, int(raw)) for p in LLM_PROVIDERS)
    chosen = dict(DEFAULT_LLM_CONCURRENCY)
    for part in _split_list(raw):
        provider, _, amount = part.partition(":")
        provider, amount = provider.strip().lower(), amount.strip()
        if provider not in LLM_PROVIDERS or not _is_number(amount, 6) or int(amount) < 1:
            raise SettingsError(name, f"must be a number of requests (1 or more) or provider:requests pairs with "
                                f"provider in {', '.join(LLM_PROVIDERS)}; got {part!r}")
        chosen[provider] = int(amount)
    return tuple((p, chosen[p]) for p in LLM_PROVIDERS)


def _parse_tz(name: str, raw: str) -> str:
    try:
        zoneinfo.ZoneInfo(raw.strip())
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):  # OSError: "America" is a folder, name too long
        raise SettingsError(name, f"must be an IANA time zone such as UTC or Europe/Paris, got {raw!r}") from None
    return raw.strip()


def _is_number(text: str, max_digits: int) -> bool:
    """ASCII digits only: str.isdigit() also accepts "²", which int() refuses, and ids have at most 20 digits."""
    return 0 < len(text) <= max_digits and text.isascii() and text.isdigit()


def _split_list(raw: str) -> list[str]:
    return [p.strip() for p in raw.split(",") if p.strip()]


_URL = _parse_url(optional=False)
_URL_SUFFIXES = ("_url", "_host")  # settings holding a URL (OLLAMA_HOST, *_API_URL, DISCORD_GATEWAY_URL...)
_URL_OPT = _parse_url(optional=True)
_SECONDS = _parse_float(minimum=0)
_POSITIVE_SECONDS = _parse_float(minimum=0.001)


@dataclass(frozen=True)
class Settings:
    """Every setting of the bot; build with `load_settings`, never from the environment directly."""

    # --- Discord -------------------------------------------------------------------------------
    discord_token: str = _field("", "Discord", "Bot token from https://discord.com/developers/applications (Bot tab)",
                                _parse_str, secret=True, required=True)
    discord_guild_id: int | None = _field(None, "Discord", "Guild to sync slash commands to instantly while developing; empty = global sync", _parse_optional_id)
    bot_owner_ids: tuple[int, ...] = _field((), "Discord", "Comma-separated user ids allowed to run /health and /cache-clear everywhere", _parse_ids)
    admin_guild_ids: tuple[int, ...] = _field((), "Discord", "Servers whose administrators may also run /health and /cache-clear (comma-separated ids); administrators of other servers may not", _parse_ids)
    allowed_guild_ids: tuple[int, ...] = _field((), "Discord", "Only serve these servers (comma-separated ids): the bot leaves any other, also when invited later; empty = any server", _parse_ids)
    discord_members_intent: bool = _field(False, "Discord", "Ask for the Server Members intent (switch it on in the developer portal first): a member's reminders are cancelled as soon as they leave a server, not at their next delivery", _parse_bool)
    discord_api_base_url: str = _field("", "Discord", "Advanced/testing: REST base instead of https://discord.com/api/v10 (local emulator)", _URL_OPT)
    discord_gateway_url: str = _field("", "Discord", "Advanced/testing: gateway websocket URL instead of wss://gateway.discord.gg", _parse_str)
    discord_global_rate_limit: float = _field(50.0, "Discord", "REST requests per second Discord allows this bot token in all (50 unless Discord raised it); several processes split it by shards", _parse_float(minimum=1))
    discord_ca_file: str = _field("", "Discord", "Advanced/testing: extra CA certificate (PEM) to trust for TLS, e.g. a local voice server", _parse_str)

    # --- Core ----------------------------------------------------------------------------------
    database_path: str = _field("data/bot.db", "Core", "SQLite database file (created with its folder on first start); used when DATABASE_URL is empty", _parse_str)
    database_url: str = _field("", "Core", "PostgreSQL instead of SQLite, for several processes: postgresql://user:password@host:5432/database (password hidden in logs)", _parse_database_url)
    database_pool_size: int = _field(10, "Core", "PostgreSQL connections one process keeps at most", _parse_int(minimum=2, maximum=100))
    shard_count: int = _field(0, "Core", "Discord shards of the whole bot (all processes); 0 = Discord's recommended count, one process", _parse_int(minimum=0, maximum=10_000))
    shard_ids: tuple[int, ...] = _field((), "Core", "The shards this process runs, e.g. 0,1 here and 2,3 in another process; empty = all of SHARD_COUNT", _parse_shard_ids)
    log_level: str = _field("INFO", "Core", "Log level: DEBUG, INFO, WARNING, ERROR or CRITICAL", _parse_choice(LOG_LEVELS, upper=True))
    log_file_enabled: bool = _field(False, "Core", "Also log to a rotating file logs/bot.log in DATABASE_PATH's folder (data/logs/bot.log by default)", _parse_bool)
    log_file_max_bytes: int = _field(5_000_000, "Core", "Size at which the log file rotates (bytes)", _parse_int(minimum=10_000))
    log_file_backups: int = _field(3, "Core", "Rotated log files to keep", _parse_int(minimum=0))

    # --- LLM -----------------------------------------------------------------------------------
    llm_provider: str = _field("ollama", "LLM", "Primary LLM provider: ollama, openrouter or openai (any OpenAI-compatible server)", _parse_choice(LLM_PROVIDERS))
    ollama_host: str = _field("http://localhost:11434", "LLM", "Ollama server URL", _URL)
    ollama_model: str = _field("llama3.2", "LLM", "Ollama model name", _parse_str)
    ollama_num_ctx: int = _field(4096, "LLM", "Ollama context window (num_ctx)", _parse_int(minimum=256))
    ollama_top_p: float = _field(0.9, "LLM", "Ollama top_p", _parse_float(0, 1))
    ollama_top_k: int = _field(40, "LLM", "Ollama top_k", _parse_int(minimum=0))
    ollama_min_p: float = _field(0.05, "LLM", "Ollama min_p", _parse_float(0, 1))
    ollama_repeat_penalty: float = _field(1.1, "LLM", "Ollama repeat_penalty", _parse_float(minimum=0))
    ollama_keep_alive: str = _field("5m", "LLM", "How long Ollama keeps the model loaded (e.g. 5m, 1h, -1)", _parse_str)
    openrouter_api_key: str = _field("", "LLM", "OpenRouter API key (https://openrouter.ai/keys)", _parse_str, secret=True)
    openrouter_model: str = _field("meta-llama/llama-3.3-70b-instruct:free", "LLM", "OpenRouter model id", _parse_str)
    openrouter_base_url: str = _field("https://openrouter.ai/api/v1", "LLM", "OpenRouter API base URL", _URL)
    openrouter_site_url: str = _field("", "LLM", "Sent as HTTP-Referer so OpenRouter can attribute the app (optional)", _parse_str)
    openrouter_app_name: str = _field("discord-llm-bot", "LLM", "Sent as X-Title to OpenRouter", _parse_str)
    openai_base_url: str = _field("", "LLM", "Any OpenAI-compatible server (OpenAI, Groq, vLLM, LM Studio, llama.cpp); empty = off", _URL_OPT)
    openai_api_key: str = _field("", "LLM", "API key for OPENAI_BASE_URL (empty for servers without auth)", _parse_str, secret=True)
    openai_model: str = _field("gpt-4o-mini", "LLM", "Model name for OPENAI_BASE_URL", _parse_str)
    llm_temperature: float = _field(0.7, "LLM", "Sampling temperature for every provider", _parse_float(0, 2))
    llm_max_tokens: int = _field(1024, "LLM", "Maximum tokens per answer", _parse_int(minimum=1))
    llm_fallback_enabled: bool = _field(False, "LLM", "Try LLM_FALLBACK_MODELS when the primary fails", _parse_bool)
    llm_fallback_models: tuple[ModelRef, ...] = _field((), "LLM", "Comma-separated provider:model fallback chain, e.g. ollama:llama3.2:1b,openrouter:meta-llama/llama-3.3-70b-instruct:free", _parse_model_refs)
    llm_connect_timeout: float = _field(5.0, "LLM", "Seconds to connect to an LLM server", _POSITIVE_SECONDS)
    llm_first_token_timeout: float = _field(60.0, "LLM", "Seconds to wait for the first token", _POSITIVE_SECONDS)
    llm_token_gap_timeout: float = _field(30.0, "LLM", "Seconds allowed between two tokens of a stream", _POSITIVE_SECONDS)
    llm_total_timeout: float = _field(300.0, "LLM", "Seconds allowed for one whole answer", _POSITIVE_SECONDS)
    llm_circuit_failure_threshold: int = _field(3, "LLM", "Consecutive failures that open a provider's circuit", _parse_int(minimum=1))
    llm_circuit_cooldown: float = _field(2.0, "LLM", "Seconds an open circuit first waits before a trial request; doubles after each failed trial", _POSITIVE_SECONDS)
    llm_circuit_cooldown_max: float = _field(60.0, "LLM", "Longest an open circuit waits before a trial request (seconds)", _POSITIVE_SECONDS)
    llm_max_concurrency: tuple[tuple[str, int], ...] = _field(DEFAULT_LLM_CONCURRENCY, "LLM", "Requests at once per LLM provider (more wait in line, served fairly across members): one number for all, or provider:requests pairs", _parse_concurrency)
    llm_daily_token_budget: tuple[tuple[str, int], ...] | str = _field(AUTO, "LLM", f"Daily token budget: one number for every provider or provider:tokens pairs; 0 = unlimited; auto = {PAID_DAILY_BUDGET} for OpenRouter and for OPENAI_BASE_URL on a hosted API (Ollama and local servers: unlimited)", _parse_auto(_parse_budget))

    # --- HTTP behaviour shared by every external service ----------------------------------------
    api_request_timeout: float = _field(30.0, "API", "Default timeout for one external HTTP request (seconds)", _POSITIVE_SECONDS)
    api_retry_attempts: int = _field(3, "API", "Attempts per request on transient errors (1 = no retry)", _parse_int(minimum=1, maximum=10))
    api_retry_delay: float = _field(1.0, "API", "First retry delay in seconds; doubles each attempt, with jitter", _SECONDS)
    api_retry_max_delay: float = _field(30.0, "API", "Longest wait between retries, Retry-After included (seconds)", _SECONDS)
    api_cache_enabled: bool = _field(True, "API", "Cache identical non-streamed LLM requests and search results", _parse_bool)
    api_cache_ttl: float = _field(300.0, "API", "Default cache lifetime (seconds)", _SECONDS)
    api_cache_max_size: int = _field(100_000, "API", "Cache entries kept at most (oldest expiring first are dropped)", _parse_int(minimum=1))

    # --- Chat ----------------------------------------------------------------------------------
    chat_system_prompt: str = _field("You are a friendly, concise assistant in a Discord server. Several people may talk to you; their names prefix their messages.", "Chat", "System prompt for chat", _parse_str)
    chat_system_prompt_file: str = _field("", "Chat", "File whose text replaces CHAT_SYSTEM_PROMPT (optional)", _parse_str)
    chat_context_tokens: int = _field(3000, "Chat", "Token budget for history sent to the model", _parse_int(minimum=100))
    chat_history_days: float = _field(30, "Chat", "Days of conversation history kept (fractions allowed)", _parse_float(minimum=0.001))
    chat_allow_dms: bool = _field(True, "Chat", "Answer direct messages, and /chat and /ask used in DMs", _parse_bool)
    chat_channel_ids: tuple[int, ...] = _field((), "Chat", "Channels where every message is answered (comma-separated ids)", _parse_ids)
    chat_stream_edit_interval: float = _field(1.0, "Chat", "Minimum seconds between edits of a streamed answer", _parse_float(minimum=0.2))
    chat_max_prompt_chars: int = _field(4000, "Chat", "Longest prompt accepted (characters)", _parse_int(minimum=1))
    chat_user_cooldown: float = _field(0.0, "Chat", "Deprecated, use MEMBER_RATE_PER_MINUTE: seconds between a member's costly commands (0 = off; when set, burst 1)", _SECONDS)
    chat_auto_thread: bool = _field(False, "Chat", "A mention in a server channel opens a thread for the answer (when the member may create public threads); memory is per thread", _parse_bool)
    chat_channel_concurrency: int = _field(4, "Chat", "Answers streamed at once in one channel, thread or DM (one member's own prompts always go in order)", _parse_int(minimum=1))

    # --- Limits: every member's fair share -------------------------------------------------------
    member_rate_per_minute: float = _field(12.0, "Limits", "Costly commands (chat, mentions, /ask, /search, /wiki, /urban, /say, voice turns) a member may make per minute, sustained; 0 = no limit", _parse_float(minimum=0))
    member_rate_burst: int = _field(8, "Limits", "Costly commands a member may make in a row before MEMBER_RATE_PER_MINUTE applies", _parse_int(minimum=1))
    member_daily_tokens: int = _field(100_000, "Limits", "Model tokens (prompt and answer) one member may use per UTC day, in every server and DMs; 0 = no limit", _parse_int(minimum=0))
    server_daily_tokens: int = _field(1_000_000, "Limits", "Model tokens one server may use per UTC day; 0 = no limit", _parse_int(minimum=0))
    queue_max_wait: float = _field(540.0, "Limits", "Longest a command waits in line for the model or web search before the member is told to try later (seconds)", _POSITIVE_SECONDS)

    # --- Search --------------------------------------------------------------------------------
    web_search_enabled: bool = _field(True, "Search", "Enable /search and web context for /ask", _parse_bool)
    web_search_engine: str = _field("duckduckgo", "Search", f"ddgs backend ({', '.join(WEB_SEARCH_ENGINES[:-1])}) or searxng", _parse_choice(WEB_SEARCH_ENGINES))
    web_search_max_results: int = _field(5, "Search", "Results per web search", _parse_int(minimum=1, maximum=20))
    web_search_rate_limit_delay: float | str = _field(AUTO, "Search", "Seconds between two web searches, shared by all users (searches wait in line); auto = 2 for ddgs engines, 0 for SearXNG", _parse_auto(_SECONDS))
    web_search_max_concurrency: int = _field(4, "Search", "Web searches at once on SearXNG (ddgs engines go one at a time)", _parse_int(minimum=1))
    web_search_timeout: float = _field(10.0, "Search", "Seconds allowed for one web search", _POSITIVE_SECONDS)
    web_search_region: str = _field("us-en", "Search", "ddgs region, e.g. us-en, uk-en, de-de", _parse_str)
    web_search_safesearch: str = _field("moderate", "Search", "ddgs safesearch: on, moderate or off", _parse_choice(SAFESEARCH))
    web_search_cache_ttl: float = _field(0.0, "Search", "Cache lifetime of web results (seconds; 0 = API_CACHE_TTL)", _SECONDS)
    searxng_url: str = _field("", "Search", "SearXNG instance with JSON output enabled, e.g. http://localhost:8888; used when WEB_SEARCH_ENGINE=searxng", _URL_OPT)
    wikipedia_lang: str = _field("en", "Search", "Wikipedia language code", _parse_str)
    wikipedia_base_url: str = _field("", "Search", "Wikipedia base URL; empty = https://<WIKIPEDIA_LANG>.wikipedia.org", _URL_OPT)
    wikipedia_cache_ttl: float = _field(86400.0, "Search", "Cache lifetime of Wikipedia answers (seconds; 0 = API_CACHE_TTL)", _SECONDS)
    urban_dictionary_api_url: str = _field("https://api.urbandictionary.com/v0", "Search", "Urban Dictionary API base URL", _URL)
    urban_nsfw_only: bool = _field(True, "Search", "Allow /urban only in NSFW channels and DMs", _parse_bool)
    urban_cache_ttl: float = _field(3600.0, "Search", "Cache lifetime of Urban Dictionary answers (seconds; 0 = API_CACHE_TTL)", _SECONDS)
    search_max_query_chars: int = _field(300, "Search", "Longest search query accepted (characters)", _parse_int(minimum=1))
    search_user_agent: str = _field("discord-llm-bot/0.1 (self-hosted Discord bot)", "Search", "User-Agent sent to Wikipedia and other APIs; add a contact", _parse_str)

    # --- Chat inputs (images, files, voice notes) and tools ---------------------------------------
    llm_tools: str = _field("auto", "Tools", "Let models call tools (web_search, wikipedia, read_url, set_reminder, list_reminders, current_time): auto or off", _parse_choice(TOOL_MODES))
    llm_tool_models: tuple[ModelRef, ...] = _field((), "Tools", "provider:model entries allowed to call tools; empty = every model whose server reports tool support (Ollama, OpenRouter)", _parse_model_refs)
    llm_tool_max_rounds: int = _field(3, "Tools", "Tool rounds at most per answer; then the model must answer", _parse_int(minimum=1, maximum=10))
    llm_vision_models: tuple[ModelRef, ...] = _field((), "Tools", "provider:model entries that can see images, besides those their server reports (Ollama, OpenRouter)", _parse_model_refs)
    llm_image_max_side: int = _field(1568, "Tools", "Images are scaled down to at most this many pixels on their longer side", _parse_int(minimum=64, maximum=8192))
    llm_image_max_bytes: int = _field(3_500_000, "Tools", "Images are re-encoded smaller until at most this many bytes each", _parse_int(minimum=10_000))
    chat_reasoning: str = _field("drop", "Tools", "Reasoning models' thinking: drop, or collapsed (shown folded under the answer)", _parse_choice(REASONING_MODES))
    attachment_max_bytes: int = _field(8_000_000, "Tools", "Largest attachment downloaded (bytes); larger ones are named and skipped", _parse_int(minimum=1000))
    attachment_max_files: int = _field(5, "Tools", "Attachments read per message", _parse_int(minimum=1, maximum=10))
    attachment_text_chars: int = _field(8000, "Tools", "Characters of a text file added to the prompt (the rest is cut, and the member told)", _parse_int(minimum=100))
    voice_message_max_seconds: float = _field(300.0, "Tools", "Longest voice message transcribed (seconds)", _parse_float(minimum=1))
    read_url_timeout: float = _field(10.0, "Tools", "Seconds allowed to fetch one page for read_url, redirects included", _POSITIVE_SECONDS)
    read_url_max_bytes: int = _field(2_000_000, "Tools", "Largest page read_url downloads (bytes)", _parse_int(minimum=10_000))
    read_url_max_chars: int = _field(6000, "Tools", "Characters of a page's text given to the model", _parse_int(minimum=200))

    # --- Reminders -----------------------------------------------------------------------------
    reminder_default_tz: str = _field("UTC", "Reminders", "Time zone for users who have not run /timezone", _parse_tz)
    reminder_max_horizon_days: int = _field(365, "Reminders", "Furthest a reminder can be set (days)", _parse_int(minimum=1))
    reminder_min_interval: float = _field(300.0, "Reminders", "Shortest repeat interval of a recurring reminder (seconds)", _parse_float(minimum=1))
    reminder_max_per_user: int = _field(25, "Reminders", "Pending reminders per user", _parse_int(minimum=1))
    reminder_max_attempts: int = _field(5, "Reminders", "Delivery attempts before a reminder is marked failed", _parse_int(minimum=1))
    reminder_history_days: float = _field(30, "Reminders", "Days a delivered, failed or cancelled reminder is kept (fractions allowed)", _parse_float(minimum=0.001))
    reminder_claim_lease: float = _field(15.0, "Reminders", "With PostgreSQL: seconds a claim on a reminder being delivered lasts unrenewed; a crashed process's reminders are taken over after this", _parse_float(minimum=1, maximum=120))
    reminder_late_note_after: float = _field(60.0, "Reminders", "A reminder delivered later than this (seconds) says how late it is", _parse_float(minimum=0))

    # --- Health --------------------------------------------------------------------------------
    health_check_interval: float = _field(60.0, "Health", "Seconds between background health probes", _parse_float(minimum=5))
    health_probe_timeout: float = _field(10.0, "Health", "Seconds allowed for one probe", _POSITIVE_SECONDS)
    health_history_days: float = _field(7, "Health", "Days of health history kept (fractions allowed)", _parse_float(minimum=0.001))
    health_alert_channel_id: int | None = _field(None, "Health", "Channel that receives service state changes (optional)", _parse_optional_id)
    metrics_port: int = _field(0, "Health", "Port of the Prometheus /metrics endpoint; 0 = off", _parse_int(0, 65535))
    metrics_host: str = _field("127.0.0.1", "Health", "Address the /metrics endpoint listens on (0.0.0.0 to expose it)", _parse_str)
    health_refresh_cooldown: float = _field(30.0, "Health", "Seconds between two /health refresh:true probe rounds (others are shown the last results)", _SECONDS)

    # --- Voice ---------------------------------------------------------------------------------
    tts_engine: str = _field("kokoro_api", "Voice", "Text-to-speech engine: kokoro_api", _parse_choice(TTS_ENGINES))
    kokoro_api_url: str = _field("", "Voice", "Kokoro-FastAPI URL, e.g. http://localhost:8880; empty = no speech output", _URL_OPT)
    kokoro_voice: str = _field("af_heart", "Voice", "Kokoro voice; mix with af_bella+af_sky or af_bella(0.7)+af_sky(0.3)", _parse_str)
    kokoro_speed: float = _field(1.0, "Voice", "Kokoro speaking speed", _parse_float(0.25, 4.0))
    stt_engine: str = _field("whisper", "Voice", "Speech-to-text: whisper (OpenAI-compatible server) or whisper_cpp", _parse_choice(STT_ENGINES))
    whisper_api_url: str = _field("", "Voice", "Whisper server URL, e.g. http://localhost:8000; empty = no voice input", _URL_OPT)
    whisper_model: str = _field("Systran/faster-whisper-small", "Voice", "Model name sent to the Whisper server", _parse_str)
    whisper_language: str = _field("en", "Voice", "Spoken language code; empty = detect", _parse_str)
    whisper_prompt: str = _field("", "Voice", "Prompt that biases transcription (names, jargon)", _parse_str)
    rvc_api_url: str = _field("", "Voice", "rvc-python API server URL, e.g. http://localhost:5050; empty = off", _URL_OPT)
    rvc_webui_url: str = _field("", "Voice", "RVC WebUI (Gradio) URL, e.g. http://localhost:7865; used when RVC_API_URL is empty", _URL_OPT)
    rvc_api_key: str = _field("", "Voice", "Key for the RVC server, if it needs one", _parse_str, secret=True)
    rvc_model: str = _field("", "Voice", "RVC model to load", _parse_str)
    voice_vad: str = _field("silero", "Voice", "Voice activity detection: silero (ignores hum, music and clicks) or webrtc (lighter)", _parse_choice(VAD_ENGINES))
    voice_silence_ms: int = _field(600, "Voice", "Silence that ends an utterance (milliseconds)", _parse_int(minimum=100))
    voice_candidate_ms: int = _field(200, "Voice", "Pause after which speech is transcribed early, while still listening; 0 = off (milliseconds)", _parse_int(minimum=0))
    voice_max_utterance_s: float = _field(15.0, "Voice", "Longest utterance before it is cut (seconds)", _parse_float(minimum=1))
    voice_idle_timeout: float = _field(300.0, "Voice", "Leave a voice channel after being alone this long (seconds)", _parse_float(minimum=1))
    voice_barge_in: bool = _field(True, "Voice", "Stop speaking when a member starts talking", _parse_bool)

    def public_items(self) -> list[tuple[str, str]]:
        """(ENV_NAME, display value) pairs with secrets masked, for --check and logs.

        Plain values are redacted too: a proxy's basic-auth password sits in a URL's userinfo, and a
        key pasted into the wrong setting must not be printed either.
        """
        items = []
        secrets = self.secrets()
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.metadata["spec"].secret:
                shown = "(set, hidden)" if value else "(not set)"
            else:
                shown = redact(_display(value), secrets)
            items.append((f.name.upper(), shown))
        return items

    def secrets(self) -> list[str]:
        """Secret values currently set, so logs and messages can redact them; also the user-info and
        query values of every URL setting (a key pasted into OLLAMA_HOST is a secret too,
        DATABASE_URL's password)."""
        found = [getattr(self, f.name) for f in dataclasses.fields(self)
                 if f.metadata["spec"].secret and getattr(self, f.name)]
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name.endswith(_URL_SUFFIXES) and isinstance(value, str) and value:
                found += url_credentials(value)
        return found

    def llm_budget(self, provider: str) -> int:
        """Tokens a day for `provider` (0: unlimited); auto gives paid, hosted APIs a budget."""
        if self.llm_daily_token_budget == AUTO:
            paid = provider == "openrouter" or (provider == "openai" and is_hosted_api(self.openai_base_url))
            return PAID_DAILY_BUDGET if paid else 0
        assert not isinstance(self.llm_daily_token_budget, str)
        return dict(self.llm_daily_token_budget).get(provider, 0)

    def llm_concurrency(self, provider: str) -> int:
        return dict(self.llm_max_concurrency).get(provider, dict(DEFAULT_LLM_CONCURRENCY)[provider])

    def web_search_spacing(self) -> float:
        """Seconds between two web searches: polite for the public engines ddgs scrapes, none for SearXNG."""
        if self.web_search_rate_limit_delay == AUTO:
            return 0.0 if self.web_search_engine == "searxng" else 2.0
        assert not isinstance(self.web_search_rate_limit_delay, str)
        return self.web_search_rate_limit_delay

    def web_search_concurrency(self) -> int:
        return self.web_search_max_concurrency if self.web_search_engine == "searxng" else 1

    def member_rate(self) -> tuple[float, int]:
        """(per minute, burst) of the shared per-member limit; the deprecated CHAT_USER_COOLDOWN wins when set."""
        if self.chat_user_cooldown > 0:
            return 60 / self.chat_user_cooldown, 1
        return self.member_rate_per_minute, self.member_rate_burst

    @property
    def wikipedia_url(self) -> str:
        return self.wikipedia_base_url or f"https://{self.wikipedia_lang}.wikipedia.org"

    @property
    def database_file(self) -> Path:
        return Path(self.database_path)

    @property
    def home_shards(self) -> Shards:
        """The shards this process runs (SHARD_COUNT 0: the whole bot, however Discord shards it)."""
        if not self.shard_count:
            return Shards.every(1)
        return Shards.of(self.shard_count, self.shard_ids) if self.shard_ids else Shards.every(self.shard_count)


def _display(value: Any) -> str:
    if isinstance(value, tuple):
        return ",".join(":".join(map(str, v)) if isinstance(v, tuple) else str(v) for v in value)
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def load_settings(env: Mapping[str, str], *, require_token: bool = True) -> Settings:
    """Build Settings from an environment mapping; raise SettingsError naming every bad setting
    (a SettingsErrors when there are several), each value checked on its own, then in combination."""
    values: dict[str, Any] = {}
    errors: list[SettingsError] = []
    for f in dataclasses.fields(Settings):
        spec: _Spec = f.metadata["spec"]
        name = f.name.upper()
        raw = env.get(name)
        if raw is None or (raw.strip() == "" and f.default not in ("",)):
            if spec.required and require_token:
                errors.append(SettingsError(name, _missing_message(name, spec)))
            continue
        raw = raw.strip()
        if spec.required and require_token and not raw:
            errors.append(SettingsError(name, _missing_message(name, spec)))
            continue
        try:
            values[f.name] = spec.parse(name, raw)
        except SettingsError as exc:
            errors.append(exc)
    settings = Settings(**values)
    bad = {e.setting for e in errors}  # a value already refused is not also reported as missing
    errors += [e for e in combination_errors(settings) if e.setting not in bad]
    if errors:
        order = {f.name.upper(): i for i, f in enumerate(dataclasses.fields(Settings))}
        raise combined(sorted(errors, key=lambda e: order.get(e.setting, len(order))))  # as .env.example lists them
    return settings


def _missing_message(name: str, spec: _Spec) -> str:
    return (f"is not set: put it in .env (copy .env.example) or the environment. "
            f"It is the {spec.help[0].lower()}{spec.help[1:]}.")


def env_example() -> str:
    """The text of .env.example, generated from the declarations above."""
    lines = ["# Every setting of the bot, with its default. Copy to .env and fill in what you use.",
             "# The real environment wins over this file. Generated by: python -m config --env-example"]
    section = None
    for f in dataclasses.fields(Settings):
        spec: _Spec = f.metadata["spec"]
        if spec.section != section:
            section = spec.section
            lines += ["", f"# ===== {section} ====="]
        lines.append(f"# {spec.help}{' (required)' if spec.required else ''}")
        lines.append(f"{f.name.upper()}={_shell_quoted(_display(f.default))}")
    return "\n".join(lines) + "\n"


def _shell_quoted(value: str) -> str:
    """Single-quote values a shell would split or interpret, so `set -a; . ./.env` works; python-dotenv
    reads single quotes the same way (no escapes inside)."""
    if re.fullmatch(r"[A-Za-z0-9_@%+=:,./-]*", value):
        return value
    if "'" in value:
        raise ValueError(f"a default containing a single quote cannot be written to .env.example: {value!r}")
    return f"'{value}'"
