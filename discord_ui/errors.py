"""What a user is told when a service fails: short, honest, no traceback; the cause goes to the log."""

from __future__ import annotations

import logging
import math

from services.errors import ServiceBusy, ServiceDisabled, ServiceError, ServiceRateLimited, ServiceTimedOut

log = logging.getLogger(__name__)


def describe_failure(exc: ServiceError, what: str) -> str:
    """One line for the user about `what` (e.g. "Web search") failing with exc; logs the cause."""
    log.warning("%s failed: %s", what, exc)
    if isinstance(exc, ServiceDisabled):
        return f"{what} is turned off on this bot."
    retry = f" Try again in {math.ceil(exc.retry_after)} s." if exc.retry_after else " Try again later."
    if isinstance(exc, ServiceBusy):
        return f"{what} is busy right now.{retry}"
    if isinstance(exc, ServiceRateLimited):
        return f"{what} is rate-limiting us.{retry}"
    if isinstance(exc, ServiceTimedOut):
        return f"{what} did not answer in time.{retry}"
    if exc.transient:
        return f"{what} is unavailable right now.{retry}"
    return f"{what} could not handle that request."
