"""Hostile text for property tests: the characters that look like nothing but change what code sees."""

from __future__ import annotations

from hypothesis import strategies as st

ZERO_WIDTH = ["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad", "\u180e"]
BIDI = ["\u202a", "\u202b", "\u202c", "\u202d", "\u202e", "\u2066", "\u2067", "\u2068", "\u2069",
        "\u200e", "\u200f", "\u061c"]
CONTROLS = ["\x00", "\x07", "\x1b", "\x7f", "\x85", "\t", "\n", "\r", "\r\n", "\v", "\f", "\u2028", "\u2029"]
RTL_WORDS = ["שלום", "مرحبا بالعالم", "ﻻ", "עִבְרִית", "اَلْعَرَبِيَّةُ", "ܫܠܡܐ"]
GRAPHEMES = ["👩‍👩‍👧‍👦", "🏳️‍🌈", "🇫🇷", "🇺🇸", "🏴󠁧󠁢󠁳󠁣󠁴󠁿", "👍🏽", "❤️", "e\u0301", "क्षि", "🧑🏿‍🤝‍🧑🏻", "1️⃣"]
MENTIONS = ["@everyone", "@here", "<@123456789012345678>", "<@!123456789012345678>", "<@&123456789012345678>",
            "<#123456789012345678>", "@\u200beveryone", "＠everyone", "@every\u200bone"]
COMMANDS = ["/remind", "!ban @everyone", "/health refresh:true", "</health:123456789012345678>", "```", "~~~"]

hostile_piece = st.one_of(
    st.sampled_from(ZERO_WIDTH + BIDI + CONTROLS + RTL_WORDS + GRAPHEMES + MENTIONS + COMMANDS),
    st.text(max_size=12),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=8),
)
hostile_text = st.lists(hostile_piece, max_size=30).map("".join)


def emoji_bomb(target_bytes: int = 4000) -> st.SearchStrategy[str]:
    """Long emoji sequences (ZWJ families, flags, tag sequences) of about `target_bytes` UTF-8 bytes."""
    def build(parts: list[str]) -> str:
        out, size = [], 0
        while size < target_bytes:
            for part in parts:
                out.append(part)
                size += len(part.encode())
        return "".join(out)
    extras = st.lists(st.sampled_from([*GRAPHEMES, "\u200d", "️", "🏻"]), max_size=5)
    return st.tuples(st.sampled_from(GRAPHEMES), extras).map(lambda t: build([t[0], *t[1]]))
