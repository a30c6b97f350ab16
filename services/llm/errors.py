"""What went wrong with a model backend, precise enough for the router to decide what to do next.

Everything here refines services/errors.py: transient errors may be retried or sent elsewhere,
permanent ones never succeed on a retry. `service_fault` tells the circuit breaker whether the
failure says something about the provider (down, bad key, no credit) or only about this request
(unknown model, prompt too long), so one bad request cannot open a healthy provider's circuit.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

import aiohttp

from services.errors import (
    PermanentError,
    ServiceBusy,
    ServiceError,
    ServiceRateLimited,
    ServiceTimedOut,
    TransientError,
)
from services.redact import redact

_CONTEXT_TOO_LONG = re.compile(
    r"context[ _-]?(length|window|size)|too many tokens|maximum (context|prompt)|prompt is too long|"
    r"reduce the length|token limit", re.IGNORECASE)


class StreamBroken(TransientError):
    """A 200 answer that failed mid-way: an error inside the stream, a cut-off or a malformed line."""


class StreamTimeout(ServiceTimedOut):
    """No first token, too long a gap between tokens, or too long an answer."""

    def __init__(self, service: str, phase: str, seconds: float) -> None:
        self.phase = phase
        super().__init__(service, f"{phase.replace('_', ' ')} timeout after {seconds:g} s")


class RateLimited(ServiceRateLimited):
    """HTTP 429: wait Retry-After (when it is short enough) or go elsewhere."""


class AuthFailed(PermanentError):
    """401/403: the key is missing, wrong or revoked."""

    service_fault: ClassVar[bool] = True


class OutOfCredit(PermanentError):
    """402: the account has no credit left."""

    service_fault: ClassVar[bool] = True


class ModelNotFound(PermanentError):
    """404: the server does not have this model (Ollama: not pulled)."""

    service_fault: ClassVar[bool] = False


class WrongEndpoint(PermanentError):
    """The configured URL does not serve this API (a 404 on the model list): a setting is wrong."""

    service_fault: ClassVar[bool] = True


class ContextTooLong(PermanentError):
    """The prompt does not fit the model's context window."""

    service_fault: ClassVar[bool] = False


class BadRequest(PermanentError):
    """400/422 and other 4xx: this request is wrong for this server (or was refused by moderation)."""

    service_fault: ClassVar[bool] = False


class BudgetExhausted(PermanentError):
    """LLM_DAILY_TOKEN_BUDGET for this provider is spent for today (UTC)."""

    service_fault: ClassVar[bool] = False


class ProviderBusy(ServiceBusy):
    """Our own per-provider concurrency limit stayed full until the first-token deadline."""

    service_fault: ClassVar[bool] = False


def classify(service: str, status: int, message: str, *, retry_after: float | None = None) -> ServiceError:
    """The precise error for an HTTP status (or an `error.code` inside a stream) and its message."""
    if status == 429:
        return RateLimited(service, message, status=status, retry_after=retry_after)
    if status in (408, 425) or status >= 500:
        return TransientError(service, message, status=status, retry_after=retry_after)
    if status == 401 or (status == 403 and not _mentions_moderation(message)):
        return AuthFailed(service, message, status=status)
    if status == 402:
        return OutOfCredit(service, message, status=status)
    if status == 404:
        return ModelNotFound(service, message, status=status)
    if status in (400, 413, 422) and _CONTEXT_TOO_LONG.search(message):
        return ContextTooLong(service, message, status=status)
    return BadRequest(service, message, status=status)


def refine(error: ServiceError, *, connect_timeout: float | None = None) -> ServiceError:
    """Re-classify a generic error from services.http into the classes above."""
    if connect_timeout is not None and isinstance(error.__cause__, aiohttp.ConnectionTimeoutError):
        return StreamTimeout(error.service, "connect", connect_timeout)
    if error.status is None or type(error) not in (TransientError, PermanentError, ServiceRateLimited):
        return error
    refined = classify(error.service, error.status, error.cause, retry_after=error.retry_after)
    refined.__cause__ = error.__cause__
    return refined


def scrub(error: ServiceError, secrets: Sequence[str]) -> ServiceError:
    """Mask our own key wherever a server echoed it: keys of any shape, not only the sk-... the
    generic redaction recognises (Groq's gsk_..., a self-hosted server's passphrase)."""
    error.cause = redact(error.cause, secrets)
    error.args = tuple(redact(a, secrets) if isinstance(a, str) else a for a in error.args)
    return error


def probe_error(error: ServiceError, url: str, setting: str) -> ServiceError:
    """A probe failure, with a 404 on the model list explained as the misconfiguration it is."""
    if error.status == 404:
        return WrongEndpoint(error.service, f"{url} answered 404: is {setting} right?", status=404)
    return refine(error)


def _mentions_moderation(message: str) -> bool:
    return bool(re.search(r"moderat|flagged", message, re.IGNORECASE))


@dataclass(frozen=True)
class FailedAttempt:
    """One provider:model that did not finish the answer, and why (skips included)."""

    provider: str
    model: str
    error: ServiceError
    skipped: bool = False
    after_first_token: bool = False

    @property
    def reason(self) -> str:
        status = f" (HTTP {self.error.status})" if self.error.status else ""
        return f"{self.error.cause}{status}"


class AllProvidersFailed(TransientError):
    """Every provider in the chain failed or was skipped; `attempts` says why, one line each.

    `partial_text` is what the caller already received when a stream broke and nothing could
    continue it: the answer is incomplete and the caller must say so.
    """

    def __init__(self, attempts: Sequence[FailedAttempt], *, partial_text: str = "") -> None:
        self.attempts = tuple(attempts)
        self.partial_text = partial_text
        super().__init__("llm", "; ".join(self.reasons()) or "no LLM provider is configured")

    def reasons(self) -> list[str]:
        """The last reason per provider:model, in chain order."""
        latest: dict[tuple[str, str], FailedAttempt] = {}
        for attempt in self.attempts:
            latest[(attempt.provider, attempt.model)] = attempt  # keeps first-seen order
        return [f"{a.provider}:{a.model}: {a.reason}" for a in latest.values()]
