"""`python main.py` as a newcomer runs it: missing or bad settings exit 2 with one clear line."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from dotenv import dotenv_values

from config.settings import Settings, SettingsError, env_example, load_settings

ROOT = Path(__file__).resolve().parents[2]


def run_main(tmp_path: Path, env: dict[str, str], *args: str, dotenv: str | None = None) -> subprocess.CompletedProcess:
    """Run main.py in an empty folder with only the given environment (never a developer's .env)."""
    if dotenv is not None:
        (tmp_path / ".env").write_text(dotenv)
    base = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, str(ROOT / "main.py"), *args], cwd=tmp_path,
                          env={**base, **env}, capture_output=True, text=True, timeout=60)


def test_missing_token_exits_2_with_one_line(tmp_path):
    result = run_main(tmp_path, {})
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "DISCORD_TOKEN" in lines[0] and ".env" in lines[0]
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(("name", "value", "expected"), [
    ("OLLAMA_HOST", "not a url", "http://"),
    ("API_REQUEST_TIMEOUT", "-5", "at least"),
    ("API_REQUEST_TIMEOUT", "soon", "number"),
    ("LLM_PROVIDER", "skynet", "ollama, openrouter, openai"),
    ("LLM_FALLBACK_MODELS", "gpt4", "provider:model"),
    ("LLM_FALLBACK_MODELS", "claude:opus", "ollama, openrouter, openai"),
    ("LLM_FALLBACK_ENABLED", "maybe", "true or false"),
    ("DISCORD_GUILD_ID", "my-guild", "digits"),
    ("BOT_OWNER_IDS", "123,abc", "digits"),
    ("LOG_LEVEL", "LOUD", "DEBUG, INFO"),
    ("REMINDER_DEFAULT_TZ", "Mars/Olympus", "IANA"),
    ("WEB_SEARCH_ENGINE", "altavista", "duckduckgo"),
    ("KOKORO_API_URL", "localhost:8880", "http://"),
    ("OLLAMA_HOST", "http://localhost:99999", "port"),
    ("REMINDER_HISTORY_DAYS", "0", "at least"),
    ("CHAT_HISTORY_DAYS", "forever", "number"),
])
def test_bad_value_exits_2_naming_the_setting(tmp_path, name, value, expected):
    result = run_main(tmp_path, {"DISCORD_TOKEN": "x" * 20, name: value}, "--check")
    assert result.returncode == 2, result.stdout
    line = result.stderr.strip()
    assert "\n" not in line and "Traceback" not in line
    assert name in line and expected in line


def test_dotenv_is_read_and_environment_wins(tmp_path):
    dotenv = "DISCORD_TOKEN=fromfile-token-123\nOLLAMA_MODEL=from-file\nLLM_MAX_TOKENS=77\n"
    result = run_main(tmp_path, {"OLLAMA_MODEL": "from-env"}, "--check", dotenv=dotenv)
    assert result.returncode == 0, result.stderr
    assert "OLLAMA_MODEL=from-env" in result.stdout
    assert "LLM_MAX_TOKENS=77" in result.stdout


def test_check_masks_secrets(tmp_path):
    secrets = {"DISCORD_TOKEN": "tok-SECRET-abcdef", "OPENROUTER_API_KEY": "sk-or-SECRET-123456",
               "OPENAI_API_KEY": "sk-SECRET-7890abcd", "RVC_API_KEY": "rvc-SECRET-key"}
    result = run_main(tmp_path, secrets, "--check")
    assert result.returncode == 0, result.stderr
    assert "SECRET" not in result.stdout + result.stderr
    assert "DISCORD_TOKEN=(set, hidden)" in result.stdout
    assert "OPENAI_API_KEY=(set, hidden)" in result.stdout


def test_check_prints_every_setting(tmp_path):
    result = run_main(tmp_path, {"DISCORD_TOKEN": "t" * 12}, "--check")
    names = {m.group(1) for m in re.finditer(r"^[ *] ([A-Z0-9_]+)=", result.stdout, re.MULTILINE)}
    assert names == {name for name, _ in load_settings({"DISCORD_TOKEN": "t"}).public_items()}


def test_env_example_lists_every_setting_with_its_default(tmp_path):
    text = (ROOT / ".env.example").read_text()
    assert text == env_example(), "regenerate with: python -m config --env-example > .env.example"
    # The example file itself must be valid settings once a token is added, read by python-dotenv...
    values = {k: v or "" for k, v in dotenv_values(ROOT / ".env.example").items()}
    assert load_settings({**values, "DISCORD_TOKEN": "t"}) == Settings(discord_token="t")
    # ...and by a shell, as `set -a; . ./.env` does (systemd units, docker entrypoints, cron jobs).
    (tmp_path / ".env").write_text(text)
    dump = f"import json, os; print(json.dumps({{k: os.environ[k] for k in {sorted(values)!r}}}))"
    shell = subprocess.run(["bash", "-c", f"set -eu -a; . ./.env; exec {sys.executable} -c {shlex.quote(dump)}"],
                           cwd=tmp_path, capture_output=True, text=True, timeout=30, env={"PATH": "/usr/bin:/bin"})
    assert shell.returncode == 0 and shell.stderr == "", shell.stderr
    assert json.loads(shell.stdout) == values


def test_fallback_models_split_at_first_colon():
    s = load_settings({"DISCORD_TOKEN": "t", "LLM_FALLBACK_MODELS":
                       "ollama:llama3.2:1b, openrouter:meta-llama/llama-3.3-70b-instruct:free"})
    assert [(r.provider, r.model) for r in s.llm_fallback_models] == [
        ("ollama", "llama3.2:1b"), ("openrouter", "meta-llama/llama-3.3-70b-instruct:free")]


def test_combinations_are_checked():
    with pytest.raises(SettingsError) as err:
        load_settings({"DISCORD_TOKEN": "t", "WEB_SEARCH_ENGINE": "searxng"})
    assert err.value.setting == "SEARXNG_URL"
    with pytest.raises(SettingsError) as err:
        load_settings({"DISCORD_TOKEN": "t", "LLM_PROVIDER": "openai"})
    assert err.value.setting == "OPENAI_BASE_URL"


def test_budget_forms():
    s = load_settings({"DISCORD_TOKEN": "t", "LLM_DAILY_TOKEN_BUDGET": "openrouter:5000"})
    assert s.llm_budget("openrouter") == 5000 and s.llm_budget("ollama") == 0
    s = load_settings({"DISCORD_TOKEN": "t", "LLM_DAILY_TOKEN_BUDGET": "100"})
    assert s.llm_budget("ollama") == 100


def test_concurrency_per_provider_with_defaults_for_the_rest():
    s = load_settings({"DISCORD_TOKEN": "t"})
    assert (s.llm_concurrency("ollama"), s.llm_concurrency("openrouter"), s.llm_concurrency("openai")) == (4, 16, 16)
    s = load_settings({"DISCORD_TOKEN": "t", "LLM_MAX_CONCURRENCY": "ollama:1"})
    assert (s.llm_concurrency("ollama"), s.llm_concurrency("openai")) == (1, 16)
    assert load_settings({"DISCORD_TOKEN": "t", "LLM_MAX_CONCURRENCY": "3"}).llm_concurrency("openrouter") == 3
    for bad in ("0", "ollama:0", "claude:2", "ollama=2"):
        with pytest.raises(SettingsError, match="LLM_MAX_CONCURRENCY"):
            load_settings({"DISCORD_TOKEN": "t", "LLM_MAX_CONCURRENCY": bad})


def test_auto_values_follow_the_engine_and_the_host():
    ddgs = load_settings({"DISCORD_TOKEN": "t"})
    assert (ddgs.web_search_spacing(), ddgs.web_search_concurrency()) == (2.0, 1)
    searx = load_settings({"DISCORD_TOKEN": "t", "WEB_SEARCH_ENGINE": "searxng", "SEARXNG_URL": "http://s:8080"})
    assert (searx.web_search_spacing(), searx.web_search_concurrency()) == (0.0, 4)
    spaced = load_settings({"DISCORD_TOKEN": "t", "WEB_SEARCH_ENGINE": "searxng", "SEARXNG_URL": "http://s:8080",
                            "WEB_SEARCH_RATE_LIMIT_DELAY": "1.5"})
    assert spaced.web_search_spacing() == 1.5
    hosted = load_settings({"DISCORD_TOKEN": "t", "OPENAI_BASE_URL": "https://api.groq.com/openai/v1"})
    assert (hosted.llm_budget("openai"), hosted.llm_budget("openrouter"), hosted.llm_budget("ollama")) == (
        500_000, 500_000, 0)
    local = load_settings({"DISCORD_TOKEN": "t", "OPENAI_BASE_URL": "http://localhost:8080/v1"})
    assert local.llm_budget("openai") == 0


def test_the_deprecated_chat_cooldown_still_works_and_says_so():
    from config.rules import warnings

    s = load_settings({"DISCORD_TOKEN": "t", "CHAT_USER_COOLDOWN": "30"})
    assert s.member_rate() == (2.0, 1)  # one costly command every 30 s, no burst: what the cooldown did
    assert any("CHAT_USER_COOLDOWN is deprecated" in w for w in warnings(s))
    assert load_settings({"DISCORD_TOKEN": "t"}).member_rate() == (12.0, 8)
    long = load_settings({"DISCORD_TOKEN": "t", "QUEUE_MAX_WAIT": "800"})
    assert any("15-minute interaction window" in w for w in warnings(long))
