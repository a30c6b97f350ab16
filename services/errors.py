"""The typed errors every service raises, so callers can tell "try again" from "give up".

Transient errors (connection refused, timeouts, 408/429/5xx, a truncated stream) may succeed on a
retry or on another provider; permanent ones (bad request, bad key, unknown model) will not.
The cause is always redacted before it is stored, so an error can be logged or shown safely.
"""

from __future__ import annotations

from services.redact import redact


class ServiceError(Exception):
    """A failure talking to an external service."""

    transient: bool = False

    def __init__(self, service: str, message: str, *, status: int | None = None,
                 retry_after: float | None = None) -> None:
        self.service = service
        self.status = status
        self.retry_after = retry_after
        self.cause = redact(message)
        super().__init__(f"{service}: {self.cause}" + (f" (HTTP {status})" if status else ""))


class TransientError(ServiceError):
    """Worth retrying, later or elsewhere."""

    transient = True


class PermanentError(ServiceError):
    """Retrying the same request will fail the same way."""


class ServiceBusy(TransientError):
    """Our own limit for this service is full; nothing was sent upstream."""


class ServiceRateLimited(TransientError):
    """The service refused us for asking too often (HTTP 429 or its own signal)."""


class ServiceTimedOut(TransientError):
    """No answer in time; unknown whether the service would have had one."""


class ServiceDisabled(PermanentError):
    """The service is not configured; say so instead of trying."""


def error_for_status(service: str, status: int, message: str, *,
                     retry_after: float | None = None) -> ServiceError:
    """Classify an HTTP error status the way every client here does."""
    if status == 429:
        return ServiceRateLimited(service, message, status=status, retry_after=retry_after)
    if status in (408, 425) or status >= 500:
        return TransientError(service, message, status=status, retry_after=retry_after)
    return PermanentError(service, message, status=status)


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds form; HTTP dates are rare from APIs)."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None
    return max(0.0, seconds)
