"""Secrets never leave the process: known values and secret-shaped strings are masked."""

from __future__ import annotations

import logging

import pytest

from services.errors import TransientError
from services.redact import RedactingFilter, redact


@pytest.mark.parametrize(("text", "leak"), [
    ("GET http://admin:hunter22@localhost:8880/health failed", "hunter22"),
    ("header Authorization: Bearer abcdefgh12345678 rejected", "abcdefgh12345678"),
    ("https://api.example.com/v1?api_key=zzzz9999&q=1", "zzzz9999"),
    ('{"token": "qwertyuiop"}', "qwertyuiop"),
    ("invalid key sk-or-v1-0123456789abcdef", "0123456789abcdef"),
    ("Bot MTIzNDU2Nzg5MDEyMzQ1Njc4.GhIjKl.abcdefghijklmnopqrstuvwxyz0123", "abcdefghijklmnopqrstuvwxyz0123"),
])
def test_secret_shapes_are_masked(text, leak):
    cleaned = redact(text)
    assert leak not in cleaned and "***" in cleaned


def test_known_values_are_masked_even_without_a_shape():
    assert redact("the value plainsecret leaked", ["plainsecret"]) == "the value *** leaked"


def test_ordinary_text_is_untouched():
    text = "Connection refused to localhost:11434 (model llama3.2:1b)"
    assert redact(text) == text


def test_service_errors_carry_redacted_cause():
    err = TransientError("llm:openai", "401 Authorization: Bearer sk-abcdefghijklmnop")
    assert "abcdefghijklmnop" not in str(err) and "abcdefghijklmnop" not in err.cause


def test_logging_filter_masks_messages_args_and_tracebacks(caplog):
    logger = logging.getLogger("test.redact")
    handler = logging.Handler()
    seen: list[str] = []
    handler.emit = lambda record: seen.append(logging.Formatter().format(record))  # type: ignore[method-assign]
    handler.addFilter(RedactingFilter(["my-discord-token"]))
    logger.addHandler(handler)
    try:
        logger.error("token is %s", "my-discord-token")
        try:
            raise RuntimeError("failed with my-discord-token")
        except RuntimeError:
            logger.exception("boom")
    finally:
        logger.removeHandler(handler)
    assert seen and all("my-discord-token" not in line for line in seen)
    assert "RuntimeError" in seen[1]
