"""Cuts a model's token stream into sentences as they complete, so TTS can start on the first one.

A sentence ends at . ! ? … (with closing quotes/brackets) followed by whitespace, or at a line
break; common abbreviations and decimals do not end one. Very short pieces ("Hi.") are joined to
what follows once a few are available, since one TTS request per word sounds choppy. Markdown
that would be read aloud literally (`*`, `#`, backticks, link syntax) is removed. With
`first_clause_words`, the first piece may be the first clause instead (cut at a comma, semicolon
or colon once it has that many words), so speech starts sooner; later pieces stay whole
sentences for natural prosody.
"""

from __future__ import annotations

import re

_END = re.compile(r"""([.!?…]+["'”’)\]]*)(\s+)|(\n+)""")
_ABBREVIATIONS = frozenset({
    "mr", "mrs", "ms", "dr", "prof", "sr", "jr", "st", "vs", "etc", "e.g", "i.e", "approx", "no", "fig",
})
_CLAUSE = re.compile(r"[,;:](\s+)")
_LINK = re.compile(r"\[([^\]]*)\]\(([^)]*)\)")
_MARKUP = re.compile(r"[*_`#>|~]+")
_BULLET = re.compile(r"^\s*(?:[-+•]|\d+[.)])\s+", re.MULTILINE)


def speakable(text: str) -> str:
    """The text as it should be read aloud: no markdown symbols, links reduced to their words."""
    text = _LINK.sub(r"\1", text)
    text = _BULLET.sub("", text)
    text = _MARKUP.sub("", text)
    return " ".join(text.split())


class SentenceCutter:
    """Feed text deltas, get whole sentences; `flush()` returns the unfinished rest at the end."""

    def __init__(self, min_chars: int = 12, *, first_clause_words: int = 0) -> None:
        self.min_chars = min_chars
        self.first_clause_words = first_clause_words
        self._buffer = ""
        self._pending = ""  # complete but short sentences waiting to be joined
        self._emitted = False

    def feed(self, delta: str) -> list[str]:
        self._buffer += delta
        out: list[str] = []
        start = self._first_clause(out) if self.first_clause_words and not self._emitted else 0
        for match in _END.finditer(self._buffer, start):
            end = match.end(1) if match.group(1) else match.start()
            piece = self._buffer[start:end]
            if match.group(1) and _is_abbreviation(piece):
                continue
            start = match.end()
            self._emit(piece, out)
        self._buffer = self._buffer[start:]
        return out

    def flush(self) -> list[str]:
        out: list[str] = []
        rest, self._buffer = self._buffer, ""
        self._emit(rest, out)
        if self._pending:
            text, self._pending = self._pending, ""
            self._emitted = True
            out.append(text)
        return out

    def _first_clause(self, out: list[str]) -> int:
        """Emit the first clause when it ends before the first sentence does; where the rest begins."""
        sentence = _END.search(self._buffer)
        for clause in _CLAUSE.finditer(self._buffer):
            if sentence is not None and sentence.start() < clause.start():
                return 0
            piece = self._buffer[:clause.start() + 1]
            if len(speakable(piece).split()) >= self.first_clause_words:
                self._emit(piece, out)
                return clause.end()
        return 0

    def _emit(self, piece: str, out: list[str]) -> None:
        text = speakable(piece)
        if not text or not any(c.isalnum() for c in text):
            return
        text = f"{self._pending} {text}".strip() if self._pending else text
        if len(text) < self.min_chars:
            self._pending = text
            return
        self._pending = ""
        self._emitted = True
        out.append(text)


def _is_abbreviation(piece: str) -> bool:
    words = piece.rstrip(".").split()
    if not words:
        return False
    last = words[-1].lower().strip("(\"'")
    return last in _ABBREVIATIONS or (len(last) == 1 and last.isalpha() and last != "i")
