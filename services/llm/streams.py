"""Framing of streamed answers: lines for Ollama's NDJSON, events for Server-Sent Events.

Hand-written because the maintained SSE clients either own the HTTP request themselves
(aiohttp-sse-client, httpx-sse) or are synchronous; we need a parser over a response we already
opened with our typed-error helpers. It follows the WHATWG EventSource rules: CRLF, LF or CR line
ends, `:` comments (OpenRouter's keep-alives), multi-line `data:`, one optional space after the colon.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

from services.llm.errors import StreamBroken

MAX_LINE_BYTES = 1024 * 1024


async def iter_lines(chunks: AsyncIterator[bytes], service: str,
                     max_line: int = MAX_LINE_BYTES) -> AsyncIterator[bytes]:
    """Lines without their terminator; a final unterminated line is yielded too.

    Any line longer than `max_line` raises, however the bytes were chunked; a long line trickled in
    small chunks is only scanned when a chunk may end it, so it costs linear time, not quadratic.
    """
    buffer = bytearray()
    async for chunk in chunks:
        may_end = buffer.endswith(b"\r") or b"\n" in chunk or b"\r" in chunk
        buffer += chunk
        if may_end:
            lines = bytes(buffer).splitlines(keepends=True)
            # An unterminated tail, or a lone CR that may be the first half of CRLF, waits for more.
            tail = lines.pop() if lines and (lines[-1].endswith(b"\r") or not lines[-1].endswith(b"\n")) else b""
            buffer = bytearray(tail)
            for line in lines:
                yield _checked(line.rstrip(b"\r\n"), service, max_line)
        if len(buffer) > max_line + 1:  # + 1: a CR waiting for its LF is not part of the line
            raise _too_long(service, max_line)
    if buffer:
        yield _checked(bytes(buffer).rstrip(b"\r\n"), service, max_line)


def _checked(line: bytes, service: str, max_line: int) -> bytes:
    if len(line) > max_line:
        raise _too_long(service, max_line)
    return line


def _too_long(service: str, max_line: int) -> StreamBroken:
    return StreamBroken(service, f"a line of the stream is longer than {max_line} bytes")


@dataclass(frozen=True, slots=True)
class SSEEvent:
    data: str
    event: str = "message"


async def iter_sse(lines: AsyncIterator[bytes]) -> AsyncIterator[SSEEvent]:
    """Events from SSE lines. An event still open at the end of the stream is dispatched as well,
    since the caller checks for its own end marker and a complete `data:` line is still data."""
    data: list[str] = []
    event = ""
    first = True
    async for raw in lines:
        line = raw.decode("utf-8", "replace")
        if first:  # WHATWG: one leading BOM is dropped, or the first field name would be "\ufeffdata"
            line, first = line.removeprefix("\ufeff"), False
        if not line:
            if data:
                yield SSEEvent("\n".join(data), event or "message")
            data, event = [], ""
            continue
        if line.startswith(":"):
            continue
        name, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        if name == "data":
            data.append(value)
        elif name == "event":
            event = value
    if data:
        yield SSEEvent("\n".join(data), event or "message")
