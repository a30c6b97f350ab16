"""Text from members and from the web, shown by the bot as plain text: nothing in it can dress itself up.

Reminder texts, Wikipedia extracts, Urban Dictionary definitions and /say texts are written by someone
else but posted under the bot's name. `inert` shows them as typed: no masked links (a link says where
it goes), no headings, quotes or subtext, no bold or spoilers, and no invite cards. Bare URLs stay
clickable, since they show their own address.
"""

from __future__ import annotations

import re

# Discord's autolink shape (simple-markdown's url rule): a bare URL shows where it goes.
_URL = re.compile(r"(?:https?|steam)://[^\s<]+[^<.,:;\"')\]\s]")
_INLINE = re.compile(r"([\\*_~|`\[\]])")  # emphasis, spoilers, code, and the brackets of masked links
_LINE_START = re.compile(r"^([ \t]*)([#>-])", re.MULTILINE)  # headings, -# subtext, quotes, lists
# Invite links render as a join card; a zero-width space after "discord" leaves the text readable.
_INVITE = re.compile(r"(?i)discord(?=\.gg\b|(?:app)?\.com/invite\b|\.me\b|\.io\b|\.li\b)")
ZERO_WIDTH_SPACE = "\u200b"


def inert(text: str) -> str:
    """`text` exactly as typed, with every markdown construct escaped and invites broken."""
    parts: list[str] = []
    last = 0
    for match in _URL.finditer(text):
        parts.append(_INLINE.sub(r"\\\1", text[last:match.start()]))
        parts.append(match.group(0))
        last = match.end()
    parts.append(_INLINE.sub(r"\\\1", text[last:]))
    escaped = _LINE_START.sub(r"\1\\\2", "".join(parts))
    return without_invites(escaped)


def without_invites(text: str) -> str:
    """Invite links shown as text, not as a card to join a server (for text whose markdown is the bot's)."""
    return _INVITE.sub(lambda m: m.group(0) + ZERO_WIDTH_SPACE, text)
