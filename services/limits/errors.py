"""Refusals by our own per-member limits: the message is written for the member and safe to show."""

from __future__ import annotations

from typing import ClassVar

from services.errors import PermanentError


class LimitReached(PermanentError):
    """A limit of ours refused the request before anything was sent upstream."""

    service_fault: ClassVar[bool] = False

    def __init__(self, message: str, *, service: str = "limits") -> None:
        super().__init__(service, message)
        self.message = message


class QuotaExceeded(LimitReached):
    """The member's or the server's daily model-token quota is spent."""
