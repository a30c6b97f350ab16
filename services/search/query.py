"""Cleaning of user-typed queries, and the normalised forms used as cache keys.

Discord text can carry control characters, zero-width spaces and bidi overrides that are
invisible to the user but change what an API sees (and what the cache key is).
"""

from __future__ import annotations

import re
import unicodedata

from services.search.errors import InvalidQuery

_ZWJ = "\u200d"
_WHITESPACE = re.compile(r"\s+")


def _is_emoji_part(char: str) -> bool:
    # Pictographs (So), skin-tone modifiers (Sk) and the emoji variation selector (Mn U+FE0F).
    return bool(char) and (unicodedata.category(char) in ("So", "Sk") or char == "\ufe0f")


def _keep_format_char(text: str, index: int) -> bool:
    """Zero-width joiners inside emoji sequences and emoji tag characters carry meaning."""
    char = text[index]
    if 0xE0020 <= ord(char) <= 0xE007F:  # tag characters of subdivision flags
        return True
    if char == _ZWJ and 0 < index < len(text) - 1:
        return _is_emoji_part(text[index - 1]) and _is_emoji_part(text[index + 1])
    return False


def clean_query(text: str, max_chars: int) -> str:
    """The query as it should be sent: NFC, controls and invisible characters removed, spaces collapsed.

    Raises InvalidQuery when nothing searchable is left or the cleaned query is too long.
    """
    text = unicodedata.normalize("NFC", text)
    kept = []
    for index, char in enumerate(text):
        category = unicodedata.category(char)
        if category == "Cc":
            kept.append(" ")  # newlines and tabs separate words
        elif (category == "Cf" and not _keep_format_char(text, index)) or category == "Cs":
            continue  # lone surrogates (JSON allows "\ud800") cannot even be encoded for the request
        else:
            kept.append(char)
    # Again after the removals: "e<ZWSP><U+0301>" only becomes composable once the ZWSP is gone.
    cleaned = unicodedata.normalize("NFC", _WHITESPACE.sub(" ", "".join(kept)).strip())
    if not cleaned:
        raise InvalidQuery("Type something to search for.")
    if len(cleaned) > max_chars:
        raise InvalidQuery(f"That query is {len(cleaned)} characters long; the limit is {max_chars}.")
    return cleaned


def normalize_query(text: str) -> str:
    """Case- and spacing-insensitive form, for cache keys of case-insensitive sources."""
    return _WHITESPACE.sub(" ", text.casefold()).strip()


def normalize_title(text: str) -> str:
    """Wikipedia's own equivalence: '_' is a space and only the first letter is case-insensitive.

    Case-folding the whole title would make "US" and "Us" share one cached answer.
    """
    text = _WHITESPACE.sub(" ", text.replace("_", " ")).strip()
    return text[:1].upper() + text[1:]
