"""Whisper's stock inventions on silence and noise, dropped so the bot never answers a phantom.

Whisper was trained on subtitled video, so near-silence decodes to sign-offs and subtitle credits.
A transcript is dropped only when the whole of it is such a phrase (possibly repeated), compared
without case or punctuation: "Thank you." alone is noise, "Thank you, that helps" is speech.
"""

from __future__ import annotations

import re
import unicodedata

KNOWN_PHRASES = frozenset({
    "you",
    "thank you",
    "thank you very much",
    "thank you so much",
    "thanks",
    "thanks for watching",
    "thank you for watching",
    "thanks for watching and see you next time",
    "thank you for watching and see you next time",
    "please subscribe",
    "please like and subscribe",
    "like and subscribe",
    "subscribe to my channel",
    "please subscribe to my channel",
    "dont forget to like and subscribe",
    "see you in the next video",
    "ill see you in the next video",
    "see you next time",
    "blank audio",
    "silence",
    "music",
    "applause",
    "laughter",
    "no speech",
    "inaudible",
    "ご視聴ありがとうございました",
    "продолжение следует",
})

# Credits are phrased in many ways; these catch the families rather than each wording.
_CREDIT_PATTERNS = (
    re.compile(r"^(subtitles?|captions?|captioning|transcription|transcribed|transcript|translated|translation"
               r"|untertitel|sous titres|sottotitoli)\b.*\b(by|from|von|par)\b"),
    re.compile(r"amara ?org\b"),
    re.compile(r"^(subtitles?|captions?) (made|provided|created) by\b"),
    re.compile(r"\bcastingwords\b"),
)
_MAX_CREDIT_WORDS = 12  # a credit line is short; a long sentence mentioning subtitles is speech
_TAG = re.compile(r"[\[(*♪][^\])*♪]*[\])*♪]")  # [BLANK_AUDIO], (music), *laughs*, ♪ ... ♪


def normalize(text: str) -> str:
    """Case folded, punctuation removed (apostrophes joined: "don't" -> "dont"), spaces collapsed."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    kept = "".join(c if c.isalnum() or c.isspace() else ("" if c in "'’`" else " ") for c in folded)
    return " ".join(kept.split())


def is_hallucination(text: str) -> bool:
    """True when the whole transcript is a known silence/noise invention (or nothing at all)."""
    bare = normalize(text)
    if not bare:
        return True
    if bare in KNOWN_PHRASES:
        return True
    if len(bare.split()) <= _MAX_CREDIT_WORDS and any(p.search(bare) for p in _CREDIT_PATTERNS):
        return True
    if not normalize(_TAG.sub(" ", text)):
        return True  # nothing but annotations such as [BLANK_AUDIO] or (music)
    return _is_repetition(bare)


def _is_repetition(bare: str) -> bool:
    """"thank you thank you thank you": one known phrase said over and over."""
    words = bare.split()
    for size in range(1, len(words) // 2 + 1):
        if len(words) % size:
            continue
        unit = words[:size]
        if unit * (len(words) // size) == words and " ".join(unit) in KNOWN_PHRASES:
            return True
    return False
