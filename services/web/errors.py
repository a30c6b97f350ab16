"""Why a page was not read: refused before any request (unsafe link), or unreadable (too big, not a page)."""

from __future__ import annotations

from services.errors import PermanentError

SERVICE = "web:read_url"


class PageRefused(PermanentError):
    """The link is not one we fetch: not http(s), credentials in it, or a non-public address."""

    def __init__(self, message: str) -> None:
        super().__init__(SERVICE, message)


class PageUnreadable(PermanentError):
    """Fetched, but too large, not text, or with nothing readable in it."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(SERVICE, message, status=status)
