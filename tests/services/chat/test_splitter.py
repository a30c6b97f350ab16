"""The splitter: exact content, Discord's limit, balanced fences, natural cut points."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from services.chat.splitter import fence_state, render_chunks, split_message


def test_short_text_is_one_chunk():
    assert render_chunks("hello") == ["hello"]
    assert split_message("") == []


def test_cuts_at_paragraphs_first():
    para = ("word " * 60).strip()
    text = "\n\n".join([para] * 12)
    chunks = split_message(text, 2000)
    assert len(chunks) > 1
    assert "".join(c.body for c in chunks) == text
    assert all(c.body.endswith("\n\n") for c in chunks[:-1])


def test_falls_back_to_sentences_then_words():
    sentences = " ".join(f"Sentence number {i} is here." for i in range(200))
    chunks = split_message(sentences, 500)
    assert all(c.body.endswith(". ") for c in chunks[:-1])
    words = " ".join(["supercalifragilistic"] * 200)
    chunks = split_message(words, 500)
    assert all(c.body.endswith(" ") for c in chunks[:-1])
    assert "".join(c.body for c in chunks) == words


def test_code_block_is_closed_and_reopened_with_its_language():
    code = "\n".join(f"print('line {i}')" for i in range(300))
    text = f"Here is the code:\n\n```python\n{code}\n```\n\nThat's all."
    chunks = split_message(text, 2000)
    rendered = [c.render() for c in chunks]
    assert len(rendered) >= 3
    assert "".join(c.body for c in chunks) == text
    for message in rendered:
        assert len(message) <= 2000
        assert fence_state(message) is None, message[-50:]
    assert all(m.startswith("```python\n") for m in rendered[1:-1])


def test_a_line_longer_than_the_limit_is_hard_cut():
    text = "x" * 4500
    chunks = split_message(text, 2000)
    assert [len(c.body) for c in chunks][:2] == [len(chunks[0].body)] * 2
    assert "".join(c.body for c in chunks) == text


_pieces = st.sampled_from(["word ", "end. ", "\n", "\n\n", "```py\n", "```\n", "~~~\n", "é", "👍🏽", "` ", "x" * 50])


@settings(max_examples=300, deadline=None)
@given(st.lists(_pieces, max_size=400), st.integers(min_value=40, max_value=2000))
def test_properties(pieces, limit):
    text = "".join(pieces)
    chunks = split_message(text, limit)
    assert "".join(c.body for c in chunks) == text
    assert all(len(c.render()) <= limit for c in chunks)
    assert all(c.body for c in chunks)
    # every message but the one where the text itself leaves a block open is balanced
    if fence_state(text) is None:
        assert all(fence_state(c.render()) is None for c in chunks)
