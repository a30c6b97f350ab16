"""<think> blocks leave the answer however the text is chunked; answers that merely mention the tag keep it."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from services.llm.base import ReasoningDelta, TextDelta
from services.llm.reasoning import ThinkSplitter


def run(chunks: list[str]) -> tuple[str, str]:
    splitter = ThinkSplitter()
    out = [piece for chunk in chunks for piece in splitter.feed(chunk)] + splitter.flush()
    return ("".join(p.text for p in out if isinstance(p, ReasoningDelta)),
            "".join(p.text for p in out if isinstance(p, TextDelta)))


def cut(text: str, cuts: list[int]) -> list[str]:
    points = sorted({c % (len(text) + 1) for c in cuts})
    return [text[a:b] for a, b in zip([0, *points], [*points, len(text)], strict=True)]


CASES = [
    ("<think>plan it</think>\n\nThe answer.", ("plan it", "The answer.")),
    ("  \n<think>x</think>Done", ("x", "Done")),
    ("Use the <think> tag like this.", ("", "Use the <think> tag like this.")),
    ("<b>bold</b> text", ("", "<b>bold</b> text")),
    ("<think>never closed", ("never closed", "")),
    ("Plain answer", ("", "Plain answer")),
    ("\n\nHello", ("", "\n\nHello")),
    ("<think></think>Hi", ("", "Hi")),
]


@given(st.sampled_from(CASES), st.lists(st.integers(min_value=0, max_value=60), max_size=8))
def test_any_chunking_gives_the_same_split(case, cuts):
    text, expected = case
    assert run(cut(text, cuts)) == expected


def test_a_tag_split_across_chunks_is_never_shown_half_way():
    splitter = ThinkSplitter()
    assert splitter.feed("<th") == []
    assert splitter.feed("ink>ok</thi") == [ReasoningDelta("ok")]
    assert splitter.feed("nk>Yes") == [TextDelta("Yes")]
