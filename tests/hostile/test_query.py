"""Search queries with controls, zero-width and bidi characters, RTL text and 4,000-byte emoji sequences."""

from __future__ import annotations

import unicodedata

from hypothesis import example, given, settings
from hypothesis import strategies as st

from services.search.errors import InvalidQuery
from services.search.query import clean_query, normalize_query, normalize_title
from tests.hostile.strategies import BIDI, RTL_WORDS, ZERO_WIDTH, emoji_bomb, hostile_text

queries = st.one_of(hostile_text, emoji_bomb(), st.text(), st.text(alphabet=st.characters(codec="utf-16"), max_size=20))
limits = st.integers(min_value=1, max_value=5000)


@settings(max_examples=400, deadline=None)
@given(text=queries, limit=limits)
@example(text="e\u200b\u0301", limit=10)  # removing the invisible char leaves a non-NFC pair
@example(text="\ud800 query", limit=10)  # a lone surrogate cannot be sent as UTF-8
def test_clean_query_is_safe_bounded_and_idempotent(text: str, limit: int) -> None:
    try:
        cleaned = clean_query(text, limit)
    except InvalidQuery as error:
        assert str(error)
        return
    assert 0 < len(cleaned) <= limit
    assert cleaned == cleaned.strip() and "  " not in cleaned
    assert cleaned.encode("utf-8")  # sendable
    assert unicodedata.is_normalized("NFC", cleaned)
    assert not any(unicodedata.category(c) == "Cc" for c in cleaned)
    assert not set(cleaned) & (set(BIDI) | set(ZERO_WIDTH) - {"\u200d"})
    assert clean_query(cleaned, limit) == cleaned
    assert normalize_query(normalize_query(cleaned)) == normalize_query(cleaned)
    assert normalize_title(normalize_title(cleaned)) == normalize_title(cleaned)


@settings(max_examples=50, deadline=None)
@given(word=st.sampled_from(RTL_WORDS), junk=st.lists(st.sampled_from(BIDI + ZERO_WIDTH), max_size=5))
def test_rtl_text_survives_and_overrides_do_not(word: str, junk: list[str]) -> None:
    noisy = "".join(junk) + word + "".join(reversed(junk))
    assert clean_query(noisy, 300) == unicodedata.normalize("NFC", word)


@settings(max_examples=40, deadline=None)
@given(bomb=emoji_bomb())
def test_emoji_sequences_keep_their_joiners(bomb: str) -> None:
    assert len(bomb.encode()) >= 4000
    cleaned = clean_query(bomb, 10_000)
    # Nothing invisible was inserted or lost between the pictographs: ZWJ stays where it joins two.
    assert cleaned.replace("\u200d", "") == unicodedata.normalize("NFC", bomb).replace("\u200d", "")
    try:
        clean_query(bomb, 300)
    except InvalidQuery as error:
        assert "limit is 300" in str(error)
