"""No secret survives redact(), wherever it is embedded: URLs (raw or percent-encoded), JSON (escaped),
headers, repeated, overlapping, next to RTL text, emoji or combining marks."""

from __future__ import annotations

import json
import logging
from urllib.parse import quote, quote_plus

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from services.redact import RedactingFilter, redact
from tests.hostile.strategies import GRAPHEMES, RTL_WORDS, ZERO_WIDTH

secrets_ = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=4, max_size=40)
neighbours = st.one_of(st.text(max_size=8), st.sampled_from(GRAPHEMES + RTL_WORDS + ZERO_WIDTH + ["\u0301", "*", "@"]))
CONTAINERS = [
    lambda s: s,
    lambda s: f"https://api.example.com/v1/models?key={quote(s, safe='')}&x=1",
    lambda s: f"https://api.example.com/v1/models?key={quote_plus(s)}",
    lambda s: f"http://user:{quote(s, safe='')}@127.0.0.1:11434/api/chat",
    lambda s: json.dumps({"error": {"message": f"Incorrect API key provided: {s}"}}),
    lambda s: json.dumps({"headers": {"Authorization": f"Bearer {s}"}}, ensure_ascii=False),
    lambda s: f"Authorization: Bearer {s}\r\nX-Api-Key: {s}",
    lambda s: repr({"token": s}),
    lambda s: s * 3,
]


def _forms(secret: str) -> set[str]:
    return {secret, quote(secret, safe=""), quote_plus(secret), json.dumps(secret)[1:-1],
            json.dumps(secret, ensure_ascii=False)[1:-1], repr(secret)[1:-1]}


@settings(max_examples=400, deadline=None)
@given(secret=secrets_, container=st.sampled_from(CONTAINERS), before=neighbours, after=neighbours)
@example(secret="a***", container=CONTAINERS[0], before="a", after="")  # the mask itself rebuilt it
@example(secret="key with space/é", container=CONTAINERS[1], before="", after="")  # percent-encoded
@example(secret='pa"ss\\word', container=CONTAINERS[4], before="", after="")  # JSON-escaped
def test_no_secret_survives(secret: str, container, before: str, after: str) -> None:
    text = before + container(secret) + after
    out = redact(text, [secret])
    for form in _forms(secret):
        if len(form) >= 4:
            assert form not in out, (form, out)


@settings(max_examples=200, deadline=None)
@given(short=secrets_, extra=st.text(min_size=1, max_size=10), text=st.text(max_size=20))
def test_a_secret_that_contains_another_is_masked_whole(short: str, extra: str, text: str) -> None:
    long = short + extra
    out = redact(text + long + text, [short, long])
    assert long not in out and short not in out
    assert redact(long, [short, long]) == "***"  # not "***" + extra: no piece of the longer one is left


@settings(max_examples=100, deadline=None)
@given(secret=secrets_, container=st.sampled_from(CONTAINERS))
def test_the_logging_filter_masks_messages_args_and_tracebacks(secret: str, container) -> None:
    record = logging.LogRecord("t", logging.ERROR, __file__, 1, "failed: %s", (container(secret),), None)
    try:
        raise RuntimeError(container(secret))
    except RuntimeError:
        import sys
        record.exc_info = sys.exc_info()
    RedactingFilter([secret]).filter(record)
    for form in _forms(secret):
        if len(form) >= 4:
            assert form not in record.getMessage()
            assert form not in (record.exc_text or "")


@settings(max_examples=200, deadline=None)
@given(text=st.text(max_size=200), secret=secrets_, container=st.sampled_from(CONTAINERS))
def test_redacting_twice_changes_nothing_more(text: str, secret: str, container) -> None:
    once = redact(text + container(secret), [secret])
    assert redact(once, [secret]) == once


# --- URLs parsed: the whole user-info, signed query values, Authorization headers of any scheme ------------

USERINFO = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Zs", "Zl", "Zp", "Cc"),
                                          exclude_characters="/?#\"'<>`\\"), min_size=1, max_size=30)


@pytest.mark.parametrize(("text", "shown"), [
    ("http://admin:p@ss@ollama:11434/api/chat", "http://***@ollama:11434/api/chat"),  # was "http://***@ss@ollama..."
    ("https://TOKEN123abc@api.example.com/v1", "https://***@api.example.com/v1"),  # no colon: was not matched
    ("see https://h.example/f?sig=AbC123&code=998877&auth=zz9&page=2", "see https://h.example/f?sig=***&code=***&auth=***&page=2"),
    ("GET /o?X-Amz-Signature=deadbeef&x=1", "GET /o?X-Amz-Signature=***&x=1"),
    ("Authorization: Token 0123abcd", "Authorization: Token ***"),
    ('{"authorization": "Bearer abcdefgh1234"}', '{"authorization": "Bearer ***"}'),
    ("Proxy-Authorization: Basic dXNlcjpwYXNz", "Proxy-Authorization: Basic ***"),
])
def test_urls_and_headers_are_parsed_not_guessed(text: str, shown: str) -> None:
    assert redact(text) == shown


@pytest.mark.parametrize("text", ["mail bob@example.com", "http://host/a@b", "error code: 50035", "404 Unknown (10003)",
                                  "https://example.com/?q=python&page=2"])
def test_ordinary_text_is_left_alone(text: str) -> None:
    assert redact(text) == text


@settings(max_examples=300, deadline=None)
@given(userinfo=USERINFO, scheme=st.sampled_from(["http", "https", "postgresql", "redis", "ws"]),
       rest=st.sampled_from(["", "/", "/api/chat", ":8080/v1?x=1", "#frag"]), after=st.sampled_from(["", " and more", "\n"]))
@example(userinfo="admin:p@ss", scheme="http", rest="/api", after="")
def test_no_piece_of_a_user_info_survives(userinfo: str, scheme: str, rest: str, after: str) -> None:
    out = redact(f"failed: {scheme}://{userinfo}@host.example{rest}{after}")
    assert out == f"failed: {scheme}://***@host.example{rest}{after}", out


def test_every_url_setting_counts_as_possibly_secret() -> None:
    """A key pasted into a URL setting is masked wherever it appears later, even without URL context."""
    from config.settings import load_settings

    settings = load_settings({"DISCORD_TOKEN": "t" * 12, "OLLAMA_HOST": "http://admin:ollama-pw-77@gpu:11434",
                              "KOKORO_API_URL": "https://kokoro-tok-55@tts.example", "SEARXNG_URL":
                              "http://127.0.0.1:8888/?token=searx-key-99", "DISCORD_GATEWAY_URL": "wss://gw-user:gw-pw-1@gw"})
    found = settings.secrets()
    for secret in ("ollama-pw-77", "kokoro-tok-55", "searx-key-99", "gw-pw-1"):
        assert secret in found
        assert secret not in redact(f"upstream said {secret} was wrong", found)
    shown = dict(settings.public_items())
    assert shown["OLLAMA_HOST"] == "http://***@gpu:11434"
    assert "searx-key-99" not in shown["SEARXNG_URL"]
