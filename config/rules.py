"""Checks across settings, and of the places they name, that no single value's parser can make.

`combination_errors` stop the bot (exit 2, and `--check` fails); `warnings` are settings that do
nothing as combined, shown by `--check` and logged at start. Nothing here writes to the disk.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from config.errors import SettingsError

if TYPE_CHECKING:
    from config.settings import Settings

# Hosted OpenAI-compatible APIs refuse every request without a key; local servers need none.
WINDOW_BUDGET = 870.0  # of Discord's 15-minute interaction window, leaving time to post the answer
KEYED_HOSTS = ("api.openai.com", "openrouter.ai", "api.groq.com", "api.mistral.ai", "api.together.xyz",
               "api.deepseek.com", "api.fireworks.ai", "generativelanguage.googleapis.com")


def is_hosted_api(base_url: str) -> bool:
    """A hosted (paid) OpenAI-compatible API rather than a server on your own machine or network."""
    return (urlsplit(base_url).hostname or "") in KEYED_HOSTS


def combination_errors(s: Settings) -> list[SettingsError]:
    errors = []
    if s.web_search_engine == "searxng" and not s.searxng_url:
        errors.append(SettingsError("SEARXNG_URL", "must be set when WEB_SEARCH_ENGINE=searxng, e.g. http://localhost:8888"))
    if s.llm_provider == "openai" and not s.openai_base_url:
        errors.append(SettingsError("OPENAI_BASE_URL", "must be set when LLM_PROVIDER=openai, e.g. https://api.openai.com/v1"))
    key_error = _missing_key(s, s.llm_provider, "LLM_PROVIDER")
    if key_error:
        errors.append(key_error)
    if s.llm_first_token_timeout > s.llm_total_timeout:
        errors.append(SettingsError("LLM_FIRST_TOKEN_TIMEOUT", "must not exceed LLM_TOTAL_TIMEOUT"))
    if s.llm_fallback_enabled:
        errors += _fallback_errors(s)
    if s.chat_system_prompt_file and not _is_file(s.chat_system_prompt_file):
        errors.append(SettingsError("CHAT_SYSTEM_PROMPT_FILE", f"must name a readable file, got {s.chat_system_prompt_file!r}"))
    if s.discord_ca_file and not _is_file(s.discord_ca_file):
        errors.append(SettingsError("DISCORD_CA_FILE", f"must name a PEM file, got {s.discord_ca_file!r}"))
    if s.discord_gateway_url and not s.discord_gateway_url.startswith(("ws://", "wss://")):
        errors.append(SettingsError("DISCORD_GATEWAY_URL", f"must be a ws:// or wss:// URL, got {s.discord_gateway_url!r}"))
    if s.voice_candidate_ms >= s.voice_silence_ms:
        errors.append(SettingsError("VOICE_CANDIDATE_MS", f"must be shorter than VOICE_SILENCE_MS ({s.voice_silence_ms}), "
                                    "or 0 to transcribe only after the full silence"))
    if not s.database_url:
        problem = database_problem(s.database_path)
        if problem:
            errors.append(SettingsError("DATABASE_PATH", problem))
    errors += _shard_errors(s)
    return errors


def _shard_errors(s: Settings) -> list[SettingsError]:
    if not s.shard_ids:
        return []
    if not s.shard_count:
        return [SettingsError("SHARD_IDS", "needs SHARD_COUNT, the number of shards of the whole bot "
                              f"(e.g. SHARD_COUNT=2 with SHARD_IDS={','.join(map(str, s.shard_ids))})")]
    beyond = [i for i in s.shard_ids if i >= s.shard_count]
    if beyond:
        return [SettingsError("SHARD_IDS", f"lists shard {beyond[0]}, but SHARD_COUNT={s.shard_count} numbers shards "
                              f"0 to {s.shard_count - 1}")]
    if len(set(s.shard_ids)) < s.shard_count and not s.database_url:
        return [SettingsError("SHARD_IDS", "runs only some of the shards, so other processes run the rest, and "
                              "SQLite is for one process: set DATABASE_URL to a PostgreSQL database all of them share")]
    return []


def _missing_key(s: Settings, provider: str, chosen_by: str) -> SettingsError | None:
    if provider == "openrouter" and not s.openrouter_api_key:
        return SettingsError("OPENROUTER_API_KEY", f"must be set when {chosen_by} names openrouter "
                             "(get one at https://openrouter.ai/keys)")
    host = urlsplit(s.openai_base_url).hostname or ""
    if provider == "openai" and not s.openai_api_key and host in KEYED_HOSTS:
        return SettingsError("OPENAI_API_KEY", f"must be set when {chosen_by} names openai and "
                             f"OPENAI_BASE_URL is {host}, which refuses requests without a key")
    return None


def _fallback_errors(s: Settings) -> list[SettingsError]:
    """LLM_FALLBACK_ENABLED=true must leave at least one model to fall back to that can run."""
    primary = (s.llm_provider, {"ollama": s.ollama_model, "openrouter": s.openrouter_model,
                                "openai": s.openai_model}[s.llm_provider])
    others = [ref for ref in s.llm_fallback_models if (ref.provider, ref.model) != primary]
    if not s.llm_fallback_models:
        return [SettingsError("LLM_FALLBACK_MODELS", "is empty, so LLM_FALLBACK_ENABLED=true does nothing: list "
                              "provider:model entries, e.g. ollama:llama3.2:1b, or set LLM_FALLBACK_ENABLED=false")]
    if not others:
        return [SettingsError("LLM_FALLBACK_MODELS", f"only repeats the primary model {':'.join(primary)}, so "
                              "LLM_FALLBACK_ENABLED=true does nothing: name another provider or model")]
    if all(_unusable(s, ref.provider) for ref in others):
        reasons = "; ".join(sorted({_unusable(s, ref.provider) for ref in others}))
        return [SettingsError("LLM_FALLBACK_MODELS", f"has no model that can run ({reasons}), so "
                              "LLM_FALLBACK_ENABLED=true does nothing")]
    return []


def _unusable(s: Settings, provider: str) -> str:
    if provider == "openrouter" and not s.openrouter_api_key:
        return "openrouter needs OPENROUTER_API_KEY"
    if provider == "openai" and not s.openai_base_url:
        return "openai needs OPENAI_BASE_URL"
    return ""


def warnings(s: Settings) -> list[str]:
    """Settings that are valid but do nothing as combined (likely a forgotten switch)."""
    found = []
    if s.llm_fallback_models and not s.llm_fallback_enabled:
        found.append("LLM_FALLBACK_MODELS is set but ignored: LLM_FALLBACK_ENABLED=false")
    if s.llm_fallback_enabled:
        for ref in s.llm_fallback_models:
            reason = _unusable(s, ref.provider)
            if reason:
                found.append(f"LLM_FALLBACK_MODELS entry {ref.provider}:{ref.model} is skipped: {reason}")
    if s.searxng_url and s.web_search_engine != "searxng":
        found.append(f"SEARXNG_URL is set but ignored: WEB_SEARCH_ENGINE={s.web_search_engine}")
    if s.chat_user_cooldown > 0:
        found.append(f"CHAT_USER_COOLDOWN is deprecated: it now sets the shared per-member limit to one costly "
                     f"command every {s.chat_user_cooldown:g} s (burst 1); set MEMBER_RATE_PER_MINUTE and "
                     "MEMBER_RATE_BURST instead and remove it")
    if s.queue_max_wait + s.llm_total_timeout > WINDOW_BUDGET:
        found.append(f"QUEUE_MAX_WAIT + LLM_TOTAL_TIMEOUT is {s.queue_max_wait + s.llm_total_timeout:g} s, over the "
                     f"{WINDOW_BUDGET:g} s that fit Discord's 15-minute interaction window: a /chat that waits that long "
                     "is told to ask again instead of being answered")
    if s.rvc_model and not (s.rvc_api_url or s.rvc_webui_url):
        found.append("RVC_MODEL is set but ignored: set RVC_API_URL or RVC_WEBUI_URL")
    if (s.rvc_api_url or s.rvc_webui_url) and not s.kokoro_api_url:
        found.append("RVC is configured but does nothing without speech output: set KOKORO_API_URL")
    if s.allowed_guild_ids:
        for name, ids in (("ADMIN_GUILD_IDS", s.admin_guild_ids),
                          ("DISCORD_GUILD_ID", (s.discord_guild_id,) if s.discord_guild_id else ())):
            outside = [str(i) for i in ids if i not in s.allowed_guild_ids]
            if outside:
                found.append(f"{name} names {', '.join(outside)}, not in ALLOWED_GUILD_IDS: the bot leaves that server")
    return found


def database_problem(raw: str) -> str | None:
    """Why DATABASE_PATH cannot hold the database, judged without creating anything; None if it can."""
    if raw == ":memory:":
        return None
    if "\x00" in raw:
        return "contains a NUL character"
    path = Path(raw)
    try:
        if path.is_dir():
            return f"is a folder ({raw}): name a file inside it, e.g. {path / 'bot.db'}"
        if path.exists():
            if not os.access(path, os.R_OK | os.W_OK):
                return f"names {raw}, which this user cannot read and write"
            return None
        for folder in path.parents:
            if folder.exists():
                if not folder.is_dir():
                    return f"goes through {folder}, which is a file, not a folder"
                if not os.access(folder, os.W_OK | os.X_OK):
                    made = "the database file" if folder == path.parent else f"the folder {path.parent}"
                    return f"cannot be created: {folder} is not writable for this user, so {made} cannot be made there"
                return None
    except (OSError, ValueError) as exc:  # a name too long, a NUL byte, a folder we may not look into
        return f"cannot be used ({getattr(exc, 'strerror', None) or exc}): {raw[:80]!r}"
    return None


def create_database_folder(raw: str) -> str | None:
    """Make DATABASE_PATH's folder before anything else writes there; the reason it failed, or None."""
    if raw == ":memory:":
        return None
    folder = Path(raw).parent
    try:
        if not folder.exists():
            folder.mkdir(parents=True, mode=0o700, exist_ok=True)  # owner only: it holds personal data
    except OSError as exc:
        return f"cannot be used: its folder {folder} could not be created ({exc.strerror or exc})"
    return None


def _is_file(path: str) -> bool:
    try:
        return Path(path).is_file()
    except OSError:  # a name too long for the file system, a folder we may not read
        return False
