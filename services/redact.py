"""Masks secrets wherever text may leave the process: logs, chat, /health, stored errors."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable
from urllib.parse import parse_qsl, quote, quote_plus, unquote, urlsplit

MASK = "***"
# Query keys whose values are credentials in signed or OAuth URLs (S3/GCS/Azure signatures, OAuth codes).
_QUERY_SECRETS = r"sig|signature|x-amz-signature|x-amz-credential|x-amz-security-token|x-goog-signature|code|auth"
_PATTERNS = [
    # The whole user-info part of a URL: scheme://user:pass@host, scheme://TOKEN@host, and passwords
    # with an unencoded "@" in them (everything up to the authority's last "@" goes).
    (re.compile(r"(?P<pre>\b[a-zA-Z][a-zA-Z0-9+.-]*://)[^/?#\s\"'<>`\\]*@"), r"\g<pre>" + MASK + "@"),
    # Authorization headers, whatever the scheme (Bearer, Basic, Token, Bot...) or none
    (re.compile(r"(?i)(\b(?:proxy-)?authorization[\"']?\s*[:=]\s*[\"']?(?:[a-z-]+\s+)?)[^\s\"',;}]{4,}"),
     r"\1" + MASK),
    # bearer tokens anywhere else
    (re.compile(r"(?i)\b(bearer|bot|basic)\s+[A-Za-z0-9._~+/=-]{8,}"), r"\1 " + MASK),
    # signatures and codes in query strings
    (re.compile(rf"(?i)([?&;](?:{_QUERY_SECRETS})=)[^&#\s\"'<>]+"), r"\1" + MASK),
    # key=value style secrets in query strings, JSON or headers
    (re.compile(r"(?i)([\"']?(?:api[_-]?key|access[_-]?token|token|secret|password|passwd|key)[\"']?\s*[=:]\s*[\"']?)"
                r"[^\s\"'&,;}]{4,}"), r"\1" + MASK),
    # well-known key shapes: OpenAI/OpenRouter sk-..., Discord bot tokens
    (re.compile(r"\bsk-[A-Za-z0-9_-]{8,}"), MASK),
    (re.compile(r"\b[A-Za-z0-9_-]{23,28}\.[A-Za-z0-9_-]{6}\.[A-Za-z0-9_-]{27,40}\b"), MASK),
]


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """Replace known secret values and secret-shaped substrings with ***."""
    forms = sorted({form for secret in secrets if secret and len(secret) >= 4 for form in _written_forms(secret)
                    if len(form) >= 4}, key=len, reverse=True)
    text = _mask(text, forms)
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return _mask(text, forms)


def describe_url(url: str) -> str:
    """host:port/database of a database URL, never its user or password (for messages and logs)."""
    try:
        parts = urlsplit(url)
        port = parts.port or 5432
    except ValueError:
        return "(an unreadable URL)"
    return f"{parts.hostname or 'localhost'}:{port}{parts.path or '/'}"


def url_credentials(url: str) -> list[str]:
    """The parts of a URL that may be secrets: its user-info (whole, user, password) and query values.

    Every URL setting goes through this (Settings.secrets), because people paste keys into URLs:
    `http://admin:pw@ollama:11434`, `https://TOKEN@host`, `https://host/v1?key=...`.
    """
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return []
    found: list[str] = []
    netloc = parts.netloc
    if "@" in netloc:
        userinfo = netloc.rpartition("@")[0]
        user, _, password = userinfo.partition(":")
        found += [userinfo, user, password, unquote(user), unquote(password)]
    found += [value for _, value in parse_qsl(parts.query, keep_blank_values=True)]
    return [f for f in dict.fromkeys(found) if f]


def _written_forms(secret: str) -> set[str]:
    """How a secret appears in text that leaves us: as is, percent-encoded in a URL, escaped in JSON or repr."""
    return {secret, quote(secret, safe=""), quote_plus(secret), json.dumps(secret)[1:-1],
            json.dumps(secret, ensure_ascii=False)[1:-1], repr(secret)[1:-1]}


def _mask(text: str, forms: list[str]) -> str:
    # Longest first, so a secret that contains another is masked whole; repeated because the mask can
    # rebuild a secret ("a" + "a***" -> "a***"). Each pass shortens the text, so this ends.
    changed = True
    while changed:
        changed = False
        for form in forms:
            if form in text:
                text, changed = text.replace(form, MASK), True
    return text


class RedactingFilter(logging.Filter):
    """Redacts every record on its way out, so a secret in an exception message never reaches a log."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self._secrets = [s for s in secrets if s]

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message, self._secrets)
        if record.exc_info and record.exc_info[1] is not None:
            # Render the traceback now so it can be cleaned too; handlers reuse exc_text.
            formatter = logging.Formatter()
            record.exc_text = redact(formatter.formatException(record.exc_info), self._secrets)
        if cleaned != message or record.args:
            record.msg, record.args = cleaned, None
        return True
