"""Splits a long answer into Discord-sized messages without breaking code blocks.

Cuts prefer a paragraph break, then a line break, then a sentence end, then a space; a code block that
spans a cut is closed at the end of one message and reopened, with its language, at the start of the next.
Each chunk keeps the exact slice of the original text it carries (`body`), so joining the bodies gives
back the answer unchanged.
"""

from __future__ import annotations

import re
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
        # Reserve room for a closing fence (newline + up to a long marker) in case the cut lands in a block.
        reserve = 1 + max(3, len(_marker(open_fence)) if open_fence else 3) + 8
        window = rest[: limit - len(prefix) - reserve]
        cut = _best_cut(window)
        body = rest[:cut]
        after = fence_state(body, open_fence)
        suffix = _closing(after, body) if after else ""
        chunks.append(Chunk(body, prefix, suffix))
        pos += cut
        open_fence = after
    return chunks


def render_chunks(text: str, limit: int = DISCORD_LIMIT) -> list[str]:
    """The messages to post for `text`."""
    return [chunk.render() for chunk in split_message(text, limit)]
