"""Stream framing: lines split across chunks in every way, SSE per the EventSource rules."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable

import pytest

from services.llm.errors import StreamBroken
from services.llm.streams import SSEEvent, iter_lines, iter_sse


async def chunks(parts: Iterable[bytes]) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


async def lines_of(parts: Iterable[bytes], max_line: int = 1024) -> list[bytes]:
    return [line async for line in iter_lines(chunks(parts), "llm:test", max_line)]


async def events_of(raw: bytes, split_every: int) -> list[SSEEvent]:
    parts = [raw[i:i + split_every] for i in range(0, len(raw), split_every)]
    return [e async for e in iter_sse(iter_lines(chunks(parts), "llm:test"))]


@pytest.mark.parametrize("parts", [
    [b"a\nbb\r\nccc\rdddd\n"],
    [b"a\nb", b"b\r", b"\nccc\r", b"dddd\n"],
    [bytes([c]) for c in b"a\nbb\r\nccc\rdddd\n"],
])
async def test_lines_end_with_lf_crlf_or_cr_wherever_the_chunks_split(parts):
    assert await lines_of(parts) == [b"a", b"bb", b"ccc", b"dddd"]


async def test_an_unterminated_last_line_is_kept_and_empty_lines_survive():
    assert await lines_of([b"x\n\n", b"tail"]) == [b"x", b"", b"tail"]


async def test_an_endless_line_is_refused():
    with pytest.raises(StreamBroken, match="longer than 16 bytes"):
        await lines_of([b"0123456789"] * 3, max_line=16)


@pytest.mark.parametrize("split_every", [1, 3, 7, 1000])
async def test_sse_comments_fields_and_multiline_data(split_every):
    raw = (b": OPENROUTER PROCESSING\r\n\r\n"
           b"data: {\"a\":1}\r\n\r\n"
           b"event: error\ndata:no-space\ndata:  two spaces\nid: 7\nretry: 10\n\n"
           b"data\n\n"          # a field without a colon: empty data
           b"data: [DONE]\n\n")
    events = await events_of(raw, split_every)
    assert events == [
        SSEEvent('{"a":1}'),
        SSEEvent("no-space\n two spaces", "error"),
        SSEEvent(""),
        SSEEvent("[DONE]"),
    ]


async def test_sse_event_without_blank_line_at_the_end_is_still_delivered():
    assert await events_of(b"data: last", 100) == [SSEEvent("last")]
