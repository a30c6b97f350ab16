"""error_message_from_body over arbitrary bytes: a short string, never an exception."""

from __future__ import annotations

import json

from hypothesis import example, given, settings
from hypothesis import strategies as st

from services.http import error_message_from_body

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
        st.sampled_from(["error", "detail", "message", "code", "x"]) | st.text(max_size=5), inner, max_size=4),
    max_leaves=20,
)
bodies = st.one_of(
    st.binary(max_size=3000),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.integers(1, 100_000).map(lambda n: b"[" * n),
    st.integers(1, 5000).map(lambda n: b'{"error":' * n),
    st.sampled_from([b"\xff\xfe{", b"\xef\xbb\xbf{\"error\": \"bom\"}", b"9" * 5000, b"NaN", b"\x00" * 10]),
)


@settings(max_examples=400, deadline=None)
@given(body=bodies)
@example(body=b"[" * 2000)  # used to raise RecursionError out of json.loads
@example(body=b'{"error": ' * 1500)
def test_any_body_gives_a_short_message(body: bytes) -> None:
    message = error_message_from_body(body)
    assert isinstance(message, str) and message
    assert len(message) <= 300


@given(text=st.text(min_size=1, max_size=200).filter(str.strip))
def test_the_servers_own_message_is_kept(text: str) -> None:
    for body in ({"error": text}, {"error": {"message": text}}, {"detail": text}, {"message": text}):
        assert error_message_from_body(json.dumps(body).encode()) == text[:300]
