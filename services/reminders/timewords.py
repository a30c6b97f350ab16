"""Vocabulary and tokenizer for the time grammar in timeparse.py."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

# Unit word -> canonical unit. "m" is minutes; months must be written "mo" or "month".
UNITS: dict[str, str] = {}
for _canonical, _words in {
    "second": ("s", "sec", "secs", "second", "seconds"),
    "minute": ("m", "min", "mins", "minute", "minutes"),
    "hour": ("h", "hr", "hrs", "hour", "hours"),
    "day": ("d", "day", "days"),
    "week": ("w", "wk", "wks", "week", "weeks"),
    "month": ("mo", "mos", "month", "months"),
    "year": ("y", "yr", "yrs", "year", "years"),
}.items():
    UNITS.update(dict.fromkeys(_words, _canonical))

UNIT_SECONDS = {"second": 1, "minute": 60, "hour": 3_600}
CALENDAR_UNITS = ("day", "week", "month", "year")

WEEKDAYS: dict[str, int] = {}
for _index, _words in enumerate((
    ("mon", "monday"), ("tue", "tues", "tuesday"), ("wed", "weds", "wednesday"),
    ("thu", "thur", "thurs", "thursday"), ("fri", "friday"), ("sat", "saturday"), ("sun", "sunday"),
)):
    for _word in _words:
        WEEKDAYS[_word] = _index
        WEEKDAYS[_word + ("s" if not _word.endswith("s") else "")] = _index  # "every mondays"

MONTHS: dict[str, int] = {}
for _index, _words in enumerate((
    ("jan", "january"), ("feb", "february"), ("mar", "march"), ("apr", "april"), ("may",),
    ("jun", "june"), ("jul", "july"), ("aug", "august"), ("sep", "sept", "september"),
    ("oct", "october"), ("nov", "november"), ("dec", "december"),
), start=1):
    MONTHS.update(dict.fromkeys(_words, _index))

SEPARATORS = {",", "&", "+", "/", "and"}
RECURRENCE_ALIASES = {"hourly": "hour", "daily": "day", "weekly": "week", "monthly": "month",
                      "yearly": "year", "annually": "year"}


# Spoken numbers ("in ten minutes", "every twenty-five minutes"): voice turns and models write them so.
_ONES = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven",
         "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen")
_TENS = ("twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety")
NUMBER_WORDS = {word: n for n, word in enumerate(_ONES)} | {word: 20 + 10 * i for i, word in enumerate(_TENS)}


@dataclass(frozen=True)
class Token:
    kind: str  # word, number, ordinal, clock, iso, dotted, slashed, minus, sep, other
    text: str


_LEX = re.compile(r"""
    (?P<iso>\d{4}-\d{1,2}-\d{1,2})
  | (?P<dotted>\d{1,2}\.\d{1,2}\.\d{2,4})
  | (?P<slashed>\d{1,4}/\d{1,2}(?:/\d{1,4})?)
  | (?P<clock>\d{1,2}:\d{2}(?::\d{2})?)
  | (?P<ordinal>\d{1,2}(?:st|nd|rd|th)(?![a-z]))
  | (?P<number>\d+(?:\.\d+)?)
  | (?P<word>[a-z]+(?:'[a-z]+)?)
  | (?P<minus>-)
  | (?P<sep>[,&+/])
  | (?P<space>\s+)
  | (?P<other>.)
""", re.VERBOSE)


def normalize(text: str) -> str:
    """Lower case, compatibility forms folded, "a.m." and ISO's "T" separated, end punctuation dropped."""
    text = unicodedata.normalize("NFKC", text).strip().lower()
    text = re.sub(r"(?<![a-z])([ap])\.m\.?", r"\1m", text)
    text = re.sub(r"(\d)t(\d)", r"\1 \2", text)
    text = re.sub(rf"\b({'|'.join(_TENS)})-({'|'.join(_ONES[1:10])})\b", r"\1 \2", text)
    text = re.sub(r"\bhalf an? hour\b", "30 minutes", text)
    return text.rstrip(".!? ")


def tokenize(text: str) -> list[Token]:
    tokens = [Token(m.lastgroup or "other", m.group()) for m in _LEX.finditer(text) if m.lastgroup != "space"]
    return _spoken_numbers(tokens)


def _spoken_numbers(tokens: list[Token]) -> list[Token]:
    """Number words become number tokens; "twenty five" is one number."""
    out: list[Token] = []
    for token in tokens:
        value = NUMBER_WORDS.get(token.text) if token.kind == "word" else None
        if value is None:
            out.append(token)
            continue
        previous = out[-1] if out else None
        if (previous is not None and previous.kind == "number" and 0 < value < 10
                and previous.text in {str(NUMBER_WORDS[t]) for t in _TENS} and getattr(previous, "spoken", False)):
            out[-1] = _Spoken("number", str(int(previous.text) + value))
        else:
            out.append(_Spoken("number", str(value)))
    return out


@dataclass(frozen=True)
class _Spoken(Token):
    """A number that was written as words (only those combine: "20 5" stays two numbers)."""

    spoken: bool = True
