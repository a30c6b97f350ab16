"""`python main.py --check`: what is switched on, then every setting grouped as in .env.example,
with values that differ from the defaults marked. Secrets are hidden; URLs are redacted."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from config.settings import Settings
from services.redact import describe_url, redact

CHANGED = "*"


def check_report(settings: Settings, warnings: Sequence[str] = ()) -> str:
    lines = ["Settings are valid.", "", "Switched on:"]
    lines += [f"  {name:<12} {text}" for name, text in summary(settings)]
    if warnings:
        lines += ["", "Warnings (settings that do nothing as combined):"]
        lines += [f"  ! {redact(w, settings.secrets())}" for w in warnings]
    lines += ["", f"Effective values (secrets hidden; {CHANGED} = not the default):"]
    defaults = dict(Settings(discord_token=settings.discord_token).public_items())
    shown = dict(settings.public_items())
    section = None
    for f in dataclasses.fields(Settings):
        spec_section = f.metadata["spec"].section
        if spec_section != section:
            section = spec_section
            lines += ["", f"# ===== {section} ====="]
        name = f.name.upper()
        changed = name != "DISCORD_TOKEN" and shown[name] != defaults[name]
        lines.append(f"{CHANGED if changed else ' '} {name}={shown[name]}")
    return "\n".join(lines) + "\n"


def summary(s: Settings) -> list[tuple[str, str]]:
    """(what, state) for the parts a self-hoster switches on and off."""
    secrets = s.secrets()

    def url(value: str) -> str:
        return redact(value, secrets)

    llm = {"ollama": f"ollama {s.ollama_model} at {url(s.ollama_host)}",
           "openrouter": f"openrouter {s.openrouter_model}",
           "openai": f"openai-compatible {s.openai_model} at {url(s.openai_base_url)}"}[s.llm_provider]
    if s.llm_fallback_enabled and s.llm_fallback_models:
        fallback = ", then ".join(f"{r.provider}:{r.model}" for r in s.llm_fallback_models)
    else:
        fallback = "off"
    voice_out = (f"{s.tts_engine} at {url(s.kokoro_api_url)}, voice {s.kokoro_voice}" if s.kokoro_api_url
                 else "off (KOKORO_API_URL is empty)")
    rvc = s.rvc_api_url or s.rvc_webui_url
    if rvc and s.kokoro_api_url:
        voice_out += f", converted by RVC at {url(rvc)}" + (f" ({s.rvc_model})" if s.rvc_model else "")
    voice_in = (f"{s.stt_engine} at {url(s.whisper_api_url)}, model {s.whisper_model}" if s.whisper_api_url
                else "off (WHISPER_API_URL is empty)")
    if not s.web_search_enabled:
        search = "off (WEB_SEARCH_ENABLED=false)"
    elif s.web_search_engine == "searxng":
        search = f"SearXNG at {url(s.searxng_url)}"
    else:
        search = f"{s.web_search_engine} (through ddgs)"
    chat = f"mentions, replies, /chat; DMs {'on' if s.chat_allow_dms else 'off'}"
    if s.chat_channel_ids:
        chat += f"; every message in {len(s.chat_channel_ids)} channel(s)"
    log_file = (f"on ({s.database_file.parent / 'logs' / 'bot.log'})" if s.log_file_enabled else "off")
    per_minute, burst = s.member_rate()
    rate = f"{per_minute:g} costly commands a minute per member ({burst} in a row)" if per_minute else "no rate limit"
    quota = ", ".join(f"{n:,} per {who}" if n else f"none per {who}"
                      for n, who in ((s.member_daily_tokens, "member"), (s.server_daily_tokens, "server")))
    return [("LLM", llm), ("Fallback", fallback), ("Chat", chat), ("Voice in", voice_in), ("Voice out", voice_out),
            ("Web search", search), ("Wikipedia", url(s.wikipedia_url)),
            ("Limits", f"{rate}; tokens a day: {quota}"),
            ("Database", database(s)), ("Shards", shards(s)), ("Log file", log_file)]


def database(s: Settings) -> str:
    if s.database_url:
        return f"PostgreSQL at {describe_url(s.database_url)} (several processes may share it)"
    return f"SQLite {s.database_path} (one process)"


def shards(s: Settings) -> str:
    if not s.shard_count:
        return "as Discord recommends, all in this process"
    home = s.home_shards
    return f"this process runs {home.describe()}" if not home.is_all else f"all {s.shard_count} in this process"
