"""The Whisper noise filter: never raises, drops known phrases however dressed, keeps real speech."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from services.speech.hallucination import KNOWN_PHRASES, is_hallucination, normalize
from tests.hostile.strategies import hostile_text

SPEECH = ["weather", "tomorrow", "explain", "python", "reminder", "kitchen", "quantum", "seven", "paris",
          "mañana", "日本語", "שלום", "what", "is", "the", "how", "do", "i"]
ASCII_PHRASES = sorted(p for p in KNOWN_PHRASES if p.isascii())


@settings(max_examples=300, deadline=None)
@given(text=st.one_of(hostile_text, st.text()))
def test_any_text_is_judged_without_error(text: str) -> None:
    assert isinstance(is_hallucination(text), bool)
    assert normalize(normalize(text)) == normalize(text)


@settings(max_examples=200, deadline=None)
@given(phrase=st.sampled_from(sorted(KNOWN_PHRASES)), times=st.integers(1, 5),
       dress=st.sampled_from([str, str.upper, str.title, lambda s: f"[{s.upper()}]", lambda s: f"{s}!!!",
                              lambda s: f"  ...{s}?  ", lambda s: f"♪ {s} ♪", lambda s: f"*{s}*"]))
def test_known_phrases_are_dropped_however_dressed(phrase: str, times: int, dress) -> None:
    assert is_hallucination(" ".join([dress(phrase)] * times))


@settings(max_examples=200, deadline=None)
@given(words=st.lists(st.sampled_from(SPEECH), min_size=1, max_size=20),
       phrase=st.sampled_from([*ASCII_PHRASES, ""]))
def test_real_speech_is_kept_even_next_to_a_known_phrase(words: list[str], phrase: str) -> None:
    assert not is_hallucination(" ".join([*words, phrase]).strip())
