"""No secret survives redact(), wherever it is embedded: URLs (raw or percent-encoded), JSON (escaped),
headers, repeated, overlapping, next to RTL text, emoji or combining marks."""

from __future__ import annotations

import json
import logging
from urllib.parse import quote, quote_plus

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
