"""Settings that are fine one by one but not together: errors stop the bot, warnings are shown by --check."""

from __future__ import annotations

import re

import pytest

from config.report import CHANGED, check_report
from config.rules import database_problem, warnings
from config.settings import Settings, SettingsError, SettingsErrors, env_example, load_settings

BASE = {"DISCORD_TOKEN": "t" * 12}


def errors_of(**env: str) -> dict[str, str]:
    with pytest.raises(SettingsError) as caught:
        load_settings({**BASE, **env})
    return {e.setting: str(e) for e in caught.value.errors}


def test_a_provider_chosen_without_its_key():
    assert "openrouter.ai/keys" in errors_of(LLM_PROVIDER="openrouter")["OPENROUTER_API_KEY"]
    hosted = errors_of(LLM_PROVIDER="openai", OPENAI_BASE_URL="https://api.openai.com/v1")
    assert "api.openai.com" in hosted["OPENAI_API_KEY"]
    # A local OpenAI-compatible server (llama.cpp, vLLM, LM Studio) needs no key.
    assert load_settings({**BASE, "LLM_PROVIDER": "openai", "OPENAI_BASE_URL": "http://127.0.0.1:8080/v1"})


@pytest.mark.parametrize(("env", "expected"), [
    ({"LLM_FALLBACK_ENABLED": "true"}, "is empty"),
    ({"LLM_FALLBACK_ENABLED": "true", "LLM_FALLBACK_MODELS": "ollama:llama3.2"}, "only repeats the primary"),
    ({"LLM_FALLBACK_ENABLED": "true", "LLM_FALLBACK_MODELS": "openrouter:x/y,openai:gpt-4o-mini"},
     "no model that can run (openai needs OPENAI_BASE_URL; openrouter needs OPENROUTER_API_KEY)"),
])
def test_fallback_settings_that_do_nothing_are_errors(env, expected):
    message = errors_of(**env)["LLM_FALLBACK_MODELS"]
    assert expected in message and "does nothing" in message


def test_a_fallback_with_one_usable_model_loads_and_warns_about_the_other():
    s = load_settings({**BASE, "LLM_FALLBACK_ENABLED": "true", "OPENAI_BASE_URL": "http://127.0.0.1:9/v1",
                       "LLM_FALLBACK_MODELS": "openai:gpt-4o-mini,openrouter:x/y"})
    assert warnings(s) == ["LLM_FALLBACK_MODELS entry openrouter:x/y is skipped: openrouter needs OPENROUTER_API_KEY"]


def test_warnings_for_settings_that_are_ignored():
    s = load_settings({**BASE, "LLM_FALLBACK_MODELS": "ollama:llama3.2:1b", "SEARXNG_URL": "http://127.0.0.1:8888",
                       "RVC_MODEL": "alice"})
    assert warnings(s) == ["LLM_FALLBACK_MODELS is set but ignored: LLM_FALLBACK_ENABLED=false",
                           "SEARXNG_URL is set but ignored: WEB_SEARCH_ENGINE=duckduckgo",
                           "RVC_MODEL is set but ignored: set RVC_API_URL or RVC_WEBUI_URL"]
    assert warnings(Settings(discord_token="t")) == []


def test_servers_the_bot_would_leave_are_warned_about():
    s = load_settings({**BASE, "ALLOWED_GUILD_IDS": "1,2", "ADMIN_GUILD_IDS": "2,3", "DISCORD_GUILD_ID": "4"})
    assert warnings(s) == ["ADMIN_GUILD_IDS names 3, not in ALLOWED_GUILD_IDS: the bot leaves that server",
                           "DISCORD_GUILD_ID names 4, not in ALLOWED_GUILD_IDS: the bot leaves that server"]
    assert warnings(load_settings({**BASE, "ADMIN_GUILD_IDS": "3", "DISCORD_GUILD_ID": "4"})) == []  # any server


def test_database_problems(tmp_path):
    (tmp_path / "file").write_text("x")
    assert database_problem(str(tmp_path / "new" / "deeper" / "bot.db")) is None  # created on first start
    assert database_problem(str(tmp_path / "file")) is None  # an existing database (checked when opened)
    assert "which is a file" in (database_problem(str(tmp_path / "file" / "sub" / "bot.db")) or "")
    assert "is a folder" in (database_problem(str(tmp_path)) or "")
    assert "cannot be used" in (database_problem("a" * 5000) or "")
    assert "NUL" in (database_problem("data/\x00.db") or "")
    assert database_problem(":memory:") is None


def test_several_errors_keep_the_first_as_the_setting():
    with pytest.raises(SettingsErrors) as caught:
        load_settings({"LOG_LEVEL": "LOUD", "API_RETRY_ATTEMPTS": "0"})
    assert caught.value.setting == "DISCORD_TOKEN"
    assert str(caught.value).splitlines()[1].startswith("LOG_LEVEL ")


def test_check_report_summary_sections_and_changed_marks():
    s = load_settings({**BASE, "OLLAMA_MODEL": "qwen3:4b", "KOKORO_API_URL": "http://kokoro:8880",
                       "WEB_SEARCH_ENGINE": "searxng", "SEARXNG_URL": "http://searxng:8080",
                       "LLM_FALLBACK_ENABLED": "true", "OPENROUTER_API_KEY": "sk-or-v1-SECRET-0123456789",
                       "LLM_FALLBACK_MODELS": "openrouter:meta-llama/llama-3.3-70b-instruct:free"})
    report = check_report(s, warnings(s))
    assert report.startswith("Settings are valid.\n\nSwitched on:\n")
    summary = report.split("\n\n")[1]
    assert "LLM          ollama qwen3:4b at http://localhost:11434" in summary
    assert "Fallback     openrouter:meta-llama/llama-3.3-70b-instruct:free" in summary
    assert "Voice in     off (WHISPER_API_URL is empty)" in summary
    assert "Voice out    kokoro_api at http://kokoro:8880, voice af_heart" in summary
    assert "Web search   SearXNG at http://searxng:8080" in summary
    assert "SECRET" not in report
    # The same sections, in the same order, as .env.example.
    assert re.findall(r"^# ===== (\w+) =====$", report, re.M) == re.findall(r"^# ===== (\w+) =====$",
                                                                         env_example(), re.M)
    marked = {m.group(1) for m in re.finditer(rf"^\{CHANGED} ([A-Z0-9_]+)=", report, re.M)}
    assert marked == {"OLLAMA_MODEL", "KOKORO_API_URL", "WEB_SEARCH_ENGINE", "SEARXNG_URL", "LLM_FALLBACK_ENABLED",
                      "OPENROUTER_API_KEY", "LLM_FALLBACK_MODELS"}
    assert "  LLM_PROVIDER=ollama" in report.splitlines()
