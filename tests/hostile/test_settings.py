"""Settings under hostile values: any string either parses or is refused with a SettingsError that names
the setting (never a ValueError from int(), urlsplit() or zoneinfo), and --check never shows a secret."""

from __future__ import annotations

import dataclasses
import io
from contextlib import redirect_stdout

from hypothesis import example, given, settings
from hypothesis import strategies as st

from config.settings import Settings, SettingsError, load_settings
from main import print_check
from tests.hostile.strategies import hostile_text

NAMES = [f.name.upper() for f in dataclasses.fields(Settings)]
SECRETS = [f.name.upper() for f in dataclasses.fields(Settings) if f.metadata["spec"].secret]
# A value can be fine on its own and still need a companion setting; those errors name the companion.
COMPANIONS = {"LLM_PROVIDER": {"OPENAI_BASE_URL", "OPENROUTER_API_KEY"}, "WEB_SEARCH_ENGINE": {"SEARXNG_URL"},
              "LLM_TOTAL_TIMEOUT": {"LLM_FIRST_TOKEN_TIMEOUT"}, "LLM_FALLBACK_ENABLED": {"LLM_FALLBACK_MODELS"}}
BASE = {"DISCORD_TOKEN": "token-for-tests"}

tricky = st.one_of(
    hostile_text,
    st.sampled_from(["²", "١٢٣", "9" * 5000, "1e400", "nan", "-0", "0x10", "1_000", " 5 ", "true\x00", "http://[",
                     "http://[::1", "http://a\uff03b", "http://h:99999", "http://:80", "https://u:p@h", "ftp://x",
                     "America", "Europe/", "../../etc/passwd", "a" * 300, "a" * 5000, "/" * 4097, "UTC\x00",
                     "openai", "searxng", "ollama:", ":model", "openrouter:²", "²,³", "1,,2", "\u0660"]),
    st.from_regex(r"[0-9a-zA-Z:/.,_@\[\]~%-]{0,40}", fullmatch=True),
)


def _accepts_or_names(name: str, value: str) -> None:
    try:
        load_settings({**BASE, name: value})
    except SettingsError as error:
        assert error.setting in {name} | COMPANIONS.get(name, set()), (name, value, error)
        assert str(error).startswith(error.setting)
        assert all(e.setting in {name} | COMPANIONS.get(name, set()) for e in error.errors), (name, value, error)


@settings(max_examples=400, deadline=None)
@given(name=st.sampled_from(NAMES), value=tricky)
@example(name="BOT_OWNER_IDS", value="²")
@example(name="DISCORD_GUILD_ID", value="9" * 5000)
@example(name="LLM_DAILY_TOKEN_BUDGET", value="openai:²")
@example(name="OLLAMA_HOST", value="http://[")
@example(name="OLLAMA_HOST", value="http://a\uff03b")
@example(name="REMINDER_DEFAULT_TZ", value="America")
@example(name="REMINDER_DEFAULT_TZ", value="a" * 300)
@example(name="CHAT_SYSTEM_PROMPT_FILE", value="a" * 5000)
@example(name="DISCORD_CA_FILE", value="/" * 5000)
def test_any_value_parses_or_names_its_setting(name: str, value: str) -> None:
    _accepts_or_names(name, value)


@settings(max_examples=150, deadline=None)
@given(values=st.dictionaries(st.sampled_from(NAMES), tricky, max_size=6))
def test_many_bad_values_at_once_still_give_a_settings_error(values: dict[str, str]) -> None:
    try:
        load_settings({**BASE, **values})
    except SettingsError as error:
        assert error.setting in NAMES


secret_values = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc", "Z")),
                        min_size=8, max_size=60).filter(lambda s: s.strip() == s)


@settings(max_examples=150, deadline=None)
@given(values=st.fixed_dictionaries({name: secret_values for name in SECRETS}),
       smuggled=st.sampled_from(["OLLAMA_HOST", "OPENROUTER_BASE_URL", "OPENAI_BASE_URL", "KOKORO_API_URL"]))
def test_check_output_never_shows_a_secret(values: dict[str, str], smuggled: str) -> None:
    # The key also sits in a URL's userinfo, where people put basic-auth credentials for a proxy.
    env = {**values, smuggled: "http://admin:" + "hunter2hunter2" + "@127.0.0.1:9"}
    try:
        loaded = load_settings(env)
    except SettingsError:
        return
    out = io.StringIO()
    with redirect_stdout(out):
        print_check(loaded)
    text = out.getvalue()
    settings_lines = [line for line in text.splitlines() if line[2:].partition("=")[0] in NAMES]
    assert len(settings_lines) == len(NAMES)
    # The summary and warnings too, not only the values; a "secret" that the report shows anyway (say a
    # model name such as llama3.2) is not a leak.
    out = io.StringIO()
    with redirect_stdout(out):
        print_check(load_settings({**{name: "x" * 8 for name in SECRETS}, smuggled: "http://127.0.0.1:9"}))
    for secret in [*values.values(), "hunter2hunter2"]:
        assert secret not in text or secret in out.getvalue(), secret
