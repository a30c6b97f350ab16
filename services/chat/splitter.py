"""Splits a long answer into Discord-sized messages without breaking code blocks.

Cuts prefer a paragraph break, then a line break, then a sentence end, then a space; a code block that
spans a cut is closed at the end of one message and reopened, with its language, at the start of the next.
Each chunk keeps the exact slice of the original text it carries (`body`), so joining the bodies gives
back the answer unchanged.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

DISCORD_LIMIT = 2000
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})(.*)$")
_SENTENCE_END = re.compile(r"[.!?…][)\]\"'»]*\s")


@dataclass(frozen=True)
class Chunk:
    body: str          # an exact slice of the original text
    prefix: str = ""   # a reopened code fence, e.g. "```python\n"
    suffix: str = ""   # the closing fence added when the body ends inside a code block

    def render(self) -> str:
        return self.prefix + self.body + self.suffix


def fence_state(text: str, open_fence: str | None = None) -> str | None:
    """The opening fence line still open after `text` (None when outside a code block)."""
    for line in text.split("\n"):
        match = _FENCE.match(line)
        if not match:
            continue
        marker = match.group(1)
        if open_fence is None:
            open_fence = line.strip()
        elif marker.startswith(_marker(open_fence)) and not match.group(2).strip():
            open_fence = None
    return open_fence


def _marker(fence_line: str) -> str:
    match = _FENCE.match(fence_line)
    return match.group(1) if match else "```"


def _closing(open_fence: str, body: str) -> str:
    return ("" if body.endswith("\n") else "\n") + _marker(open_fence)


def _best_cut(window: str) -> int:
    """Where to cut a window that is too long: the latest natural boundary past its first third."""
    floor = len(window) // 3
    for finder in (lambda w: w.rfind("\n\n") + 2 if w.rfind("\n\n") >= 0 else -1,
                   lambda w: w.rfind("\n") + 1 if w.rfind("\n") >= 0 else -1,
                   _last_sentence_end,
                   lambda w: max(w.rfind(" "), w.rfind("\t")) + 1 if max(w.rfind(" "), w.rfind("\t")) >= 0 else -1):
        cut = finder(window)
        if cut > floor:
            return cut
    return len(window)


def _last_sentence_end(window: str) -> int:
    ends = [m.end() for m in _SENTENCE_END.finditer(window)]
    return ends[-1] if ends else -1


def split_message(text: str, limit: int = DISCORD_LIMIT) -> list[Chunk]:
    """Chunks whose rendered form is at most `limit` characters each."""
    if limit < 40:
        raise ValueError("limit too small to hold a code fence and some text")
    chunks: list[Chunk] = []
    pos, open_fence = 0, None
    while pos < len(text):
        prefix = open_fence + "\n" if open_fence else ""
        rest = text[pos:]
        if len(prefix) + len(rest) <= limit:
            # An answer that ends inside a code block (cut off, or still streaming) is shown closed.
            after = fence_state(rest, open_fence)
            suffix = _closing(after, rest) if after else ""
            if len(prefix) + len(rest) + len(suffix) <= limit:
                chunks.append(Chunk(rest, prefix, suffix))
                break
        # Reserve room for a closing fence (newline + up to a long marker) in case the cut lands in a block;
        # a fence opened inside the window may need more, so shrink until the message fits.
        reserve = 1 + max(3, len(_marker(open_fence)) if open_fence else 3) + 8
        budget = max(1, limit - len(prefix) - reserve)
        while True:
            window = rest[:budget]
            cut = _grapheme_safe(rest, _best_cut(window))
            body = rest[:cut]
            after = fence_state(body, open_fence)
            suffix = _closing(after, body) if after else ""
            overflow = len(prefix) + len(body) + len(suffix) - limit
            if overflow <= 0 or budget == 1:
                break
            budget = max(1, min(budget, cut) - overflow)
        chunks.append(Chunk(body, prefix, suffix))
        pos += cut
        open_fence = _fit_fence(after, limit)
    return chunks


def _fit_fence(fence: str | None, limit: int) -> str | None:
    """A fence line short enough to reopen and close within one message.

    A model can emit a 3,000-backtick fence or a huge info string; reopened as-is it would not fit
    in any message. Past a quarter of the limit it is reopened as a plain fence of its kind.
    """
    if fence is None or len(fence) <= limit // 4:
        return fence
    marker = _marker(fence)
    return marker[0] * min(len(marker), limit // 8)


def _joins(before: str, after: str) -> bool:
    """True when no user-perceived character boundary lies between the two (UAX #29, the common cases)."""
    code = ord(after)
    if after in "\u200d\ufe0e\ufe0f" or before == "\u200d" or (before, after) == ("\r", "\n"):
        return True
    if 0x1F3FB <= code <= 0x1F3FF or 0xE0020 <= code <= 0xE007F:  # skin tones, emoji tag characters
        return True
    if unicodedata.category(after) in ("Mn", "Me", "Mc"):
        return True
    return unicodedata.combining(before) == 9 and after.isalpha()  # virama conjuncts (Indic scripts)


def _is_regional(char: str) -> bool:
    return 0x1F1E6 <= ord(char) <= 0x1F1FF


def _grapheme_safe(text: str, cut: int) -> int:
    """Move a hard cut back so it does not split an emoji sequence, a flag, an accent or CRLF."""
    start = cut
    while 0 < cut < len(text) and _joins(text[cut - 1], text[cut]):
        cut -= 1
    if 0 < cut < len(text) and _is_regional(text[cut]) and _is_regional(text[cut - 1]):
        run = 0
        while cut - 1 - run >= 0 and _is_regional(text[cut - 1 - run]):
            run += 1
        cut -= run % 2
    return cut if cut > 0 else start


def render_chunks(text: str, limit: int = DISCORD_LIMIT) -> list[str]:
    """The messages to post for `text`."""
    return [chunk.render() for chunk in split_message(text, limit)]
