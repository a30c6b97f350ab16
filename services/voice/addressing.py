"""Who is a turn meant for: in a busy channel the bot answers only when it is addressed.

`always`: every turn (one member talking to the bot). `name`: the turn names the bot (its display
name or the server's wake word) at its start or its end ("Jarvis, what time is it?", "what time
is it, Jarvis?"); talk between members is ignored. `wake`: only turns that begin with the wake
word. Transcripts spell names loosely, so words are compared after normalising, with a little
tolerance for longer names ("Jarvus" still is Jarvis).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from dataclasses import dataclass

ADDRESS_MODES = ("always", "name", "wake")
_GREETING = frozenset({"hey", "hi", "hello", "ok", "okay", "yo", "oh", "so", "um", "uh", "please", "and"})
_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)?")


@dataclass(frozen=True)
class Addressing:
    """A server's addressing rule and the names the bot answers to."""

    mode: str = "always"
    names: tuple[str, ...] = ()  # the bot's display names
    wake_word: str = ""

    def addresses_bot(self, text: str) -> bool:
        if self.mode == "always":
            return True
        words = _words(text)
        if self.mode == "wake":
            return bool(self.wake_word) and _starts_with(words, _words(self.wake_word))
        names = [_words(n) for n in (*self.names, self.wake_word) if _words(n)]
        return any(_starts_with(words, name) or _ends_with(words, name) for name in names)


def _words(text: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(text)]


def _starts_with(words: Sequence[str], name: Sequence[str]) -> bool:
    """The name first, or after up to two words of greeting ("hey Jarvis", "ok so Jarvis")."""
    for skip in range(3):
        if _same(words[skip:skip + len(name)], name):
            return True
        if skip >= len(words) or words[skip] not in _GREETING:
            return False
    return False


def _ends_with(words: Sequence[str], name: Sequence[str]) -> bool:
    return len(words) > len(name) and _same(words[-len(name):], name)


def _same(heard: Sequence[str], name: Sequence[str]) -> bool:
    if len(heard) != len(name) or not name:
        return False
    a, b = " ".join(heard), " ".join(name)
    if a == b or "".join(heard) == "".join(name):
        return True
    return len(b) >= 5 and difflib.SequenceMatcher(None, a, b).ratio() >= 0.8
