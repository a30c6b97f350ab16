"""What a user is told when a service fails: short, honest, no traceback; the cause goes to the log."""

from __future__ import annotations

import logging
import math

from services.errors import ServiceDisabled, ServiceError

log = logging.getLogger(__name__)


def describe_failure(exc: ServiceError, what: str) -> str:
    """One line for the user about `what` (e.g. "Web search") failing with exc; logs the cause."""
    log.warning("%s failed: %s", what, exc)
    if isinstance(exc, ServiceDisabled):
        return f"{what} is turned off on this bot."
    name = type(exc).__name__
    retry = f" Try again in {math.ceil(exc.retry_after)} s." if exc.retry_after else " Try again later."
    if name == "SearchBusy":
        return f"{what} is busy right now.{retry}"
    if name == "SearchRateLimited" or exc.status == 429:
        return f"{what} is rate-limiting us.{retry}"
    if name == "SearchTimeout" or "timed out" in exc.cause:
        return f"{what} did not answer in time.{retry}"
    if exc.transient:
        return f"{what} is unavailable right now.{retry}"
    return f"{what} could not handle that request."
