"""Result URLs made safe to place inside a Discord link.

Search engines relay whatever pages call themselves. A URL holding ">" or a newline would end the cog's
`[title](<url>)` early and let the rest become a link of its own ("[Free Nitro](https://phish)"), and
bidi overrides or spaces in it would disguise where it points. Such characters are percent-encoded,
which keeps the address the same for the browser; anything not http(s) is dropped.
"""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import urlsplit

# The cog writes links as [title](<url>). Discord's parser (simple-markdown) ends the URL at the first ")"
# that is not part of a flat "(...)" pair, even inside <...>; these others (and whitespace, controls,
# invisible format characters) end it or change how it is read. Wikipedia's "Python_(language)" stays.
_UNSAFE = frozenset("<>`\"\\")
_FLAT_PAIR = re.compile(r"\([^()]*\)")


def link_url(raw: str) -> str | None:
    """The URL with markdown-breaking and invisible characters percent-encoded; None if not http(s)."""
    text = raw.strip()
    try:
        parts = urlsplit(text)
        host = parts.hostname
    except ValueError:  # "http://[", netlocs that change under NFKC
        return None
    if parts.scheme.lower() not in ("http", "https") or not host:
        return None
    if any(unicodedata.category(c) == "Cs" for c in text):
        return None  # a lone surrogate cannot be written as UTF-8, so not as a link either
    paired = {i for m in _FLAT_PAIR.finditer(text) for i in (m.start(), m.end() - 1)}
    return "".join(_escape(c) if c in _UNSAFE or unicodedata.category(c)[0] in "CZ"
                   or (c in "()" and i not in paired) else c for i, c in enumerate(text))


def _escape(char: str) -> str:
    return "".join(f"%{byte:02X}" for byte in char.encode())
