"""The splitter under hostile answers: exact content, every message within the limit and balanced, no
grapheme cluster (family emoji, flags, keycaps, accents) or CRLF cut in half."""

from __future__ import annotations

import itertools

from hypothesis import example, given, settings
from hypothesis import strategies as st

from services.chat.splitter import fence_state, split_message
from tests.hostile.strategies import GRAPHEMES, RTL_WORDS, ZERO_WIDTH

FENCES = ["```\n", "```python\n", "```py title=\"a b\"\n", "~~~\n", "~~~~ js\n", "````\n", "`````\n",
          "   ```\n", "    ```\n", "``` \n", "~~~~~~~~~~~~~~~~~~~~~~\n", "`" * 30 + "\n", "```\n```\n"]
WORDS = ["word ", "end. ", "Done!) ", "\n", "\n\n", "\r\n", "\r\n\r\n", "\t", "` ", "``inline`` ", "x" * 50,
         "y" * 2500, "@everyone ", "<@123> "]
_atoms = st.one_of(
    st.sampled_from(FENCES + WORDS + GRAPHEMES + RTL_WORDS + ZERO_WIDTH),
    st.text(max_size=10),
)
# Graphemes are tagged so the test knows which cut points lie inside one.
_UNSPLITTABLE = set(GRAPHEMES)
limits = st.integers(min_value=40, max_value=2000)


def _forbidden_cuts(pieces: list[str]) -> set[int]:
    """Cut points inside a tagged grapheme cluster, or between the CR and LF of a CRLF anywhere."""
    forbidden, pos = set(), 0
    for piece in pieces:
        if piece in _UNSPLITTABLE:
            forbidden.update(range(pos + 1, pos + len(piece)))
        pos += len(piece)
    text = "".join(pieces)
    forbidden.update(i + 1 for i in range(len(text) - 1) if text[i:i + 2] == "\r\n")
    return forbidden


def _check(text: str, limit: int) -> list:
    chunks = split_message(text, limit)
    assert "".join(c.body for c in chunks) == text
    for chunk in chunks:
        assert chunk.body
        assert len(chunk.render()) <= limit, (limit, chunk)
        assert fence_state(chunk.render()) is None, chunk
    # A block left open by one message is reopened, with its info string, by the next; a fence line too
    # long to fit twice in a message is reopened as a plain fence of the same kind.
    reopened = None
    for before, after in itertools.pairwise(chunks):
        still_open = fence_state(before.body, reopened)
        if still_open is None or len(still_open) <= limit // 4:
            assert after.prefix == (still_open + "\n" if still_open else "")
        else:
            assert after.prefix.strip() == still_open.strip()[0] * len(after.prefix.strip())
            assert 3 <= len(after.prefix) <= limit // 8 + 1
        reopened = after.prefix[:-1] or None
    return chunks


@settings(max_examples=250, deadline=None)
@given(pieces=st.lists(_atoms, max_size=120), limit=limits)
@example(pieces=["```\n", "\n", "00", "0" * 9, "0" * 10, "\r\n\r\n", "```\n", "```\n"], limit=40)  # between two CRLFs is fine
def test_hostile_answers_split_exactly(pieces: list[str], limit: int) -> None:
    text = "".join(pieces)
    chunks = _check(text, limit)
    cuts, pos = set(), 0
    for chunk in chunks[:-1]:
        pos += len(chunk.body)
        cuts.add(pos)
    assert not cuts & _forbidden_cuts(pieces), "a grapheme cluster or CRLF was cut in half"


@settings(max_examples=60, deadline=None)
@given(grapheme=st.sampled_from(GRAPHEMES), count=st.integers(1, 600), limit=limits, lead=st.text(max_size=3))
def test_a_wall_of_emoji_is_cut_between_clusters(grapheme: str, count: int, limit: int, lead: str) -> None:
    text = lead + grapheme * count
    chunks = _check(text, limit)
    end = 0
    for chunk in chunks[:-1]:
        end += len(chunk.body)
        if end > len(lead):
            assert (end - len(lead)) % len(grapheme) == 0, (grapheme, end)


@settings(max_examples=60, deadline=None)
@given(fence=st.sampled_from(FENCES), line=st.text(min_size=1, max_size=30), lines=st.integers(1, 400),
       limit=limits)
def test_long_code_blocks_stay_code(fence: str, line: str, lines: int, limit: int) -> None:
    body = "\n".join([line] * lines)
    _check(f"intro\n{fence}{body}\n{fence.strip()[:3]}\noutro", limit)
    _check(f"{fence}{body}", limit)  # still streaming: the block is not closed yet


@settings(max_examples=40, deadline=None)
@given(length=st.integers(1, 9000), limit=limits, char=st.sampled_from(["x", "é", "ש", "\u200b", "`"]))
def test_lines_longer_than_the_limit(length: int, limit: int, char: str) -> None:
    _check(char * length, limit)
    _check("```\n" + char * length + "\n```", limit)


def test_pathological_fences_end_and_fit() -> None:
    # 3,000 backticks used to loop forever (until memory ran out); a 3,000-char info string gave a
    # 3,008-char message.
    for text in ("`" * 3000 + "\nabc", "```" + "x" * 3000 + "\nabc\n```", "~" * 5000):
        _check(text, 2000)
        _check(text, 40)
