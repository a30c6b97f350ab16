"""HTTP helpers every client shares: typed errors, bounded bodies, no raw aiohttp errors escaping.

A self-hosted server that is down, slow or answers garbage must become a TransientError or
PermanentError with a readable cause; a huge or endless body must not be read into memory whole.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import aiohttp

from services.errors import (
    PermanentError,
    ServiceError,
    ServiceTimedOut,
    TransientError,
    error_for_status,
    parse_retry_after,
)

DEFAULT_MAX_BYTES = 4 * 1024 * 1024


def parse_json(data: str | bytes) -> Any:
    """json.loads whose every failure is a ValueError: deep nesting ("[[[[...") raises RecursionError."""
    try:
        return json.loads(data)
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None


def error_message_from_body(body: bytes) -> str:
    """The human part of an error body: {"error": "..."}, {"error": {"message": ...}}, or the text."""
    text = body[:2000].decode("utf-8", "replace").strip()
    try:
        data = parse_json(text)
    except ValueError:
        return text[:300] or "(empty body)"
    if isinstance(data, dict):
        err = data.get("error", data.get("detail", data.get("message")))
        if isinstance(err, dict):
            err = err.get("message") or err.get("code") or err
        if err is not None and str(err).strip():
            return str(err)[:300]
    return text[:300] or "(empty body)"


async def read_limited(response: aiohttp.ClientResponse, service: str, max_bytes: int = DEFAULT_MAX_BYTES) -> bytes:
    """Read a body, refusing more than max_bytes (counted as it arrives, not trusted from headers)."""
    chunks, size = [], 0
    async for chunk in response.content.iter_chunked(64 * 1024):
        size += len(chunk)
        if size > max_bytes:
            raise PermanentError(service, f"response larger than {max_bytes} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def raise_for_status(response: aiohttp.ClientResponse, service: str) -> None:
    """Turn a non-2xx answer into a typed error carrying the server's own message."""
    if response.status < 400:
        return
    try:
        body = await asyncio.wait_for(read_limited(response, service, 64 * 1024), timeout=5)
    except (TimeoutError, ServiceError, aiohttp.ClientError):
        body = b""
    raise error_for_status(service, response.status, error_message_from_body(body) or response.reason or "",
                           retry_after=parse_retry_after(response.headers.get("Retry-After")))


def connection_error(service: str, exc: BaseException) -> TransientError:
    """A refused, reset or timed-out connection, described without the noise of aiohttp's repr."""
    if isinstance(exc, TimeoutError):
        return ServiceTimedOut(service, "timed out")
    if isinstance(exc, aiohttp.ClientConnectorError):
        return TransientError(service, f"cannot connect to {exc.host}:{exc.port} ({exc.os_error.strerror or exc.os_error})")
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return TransientError(service, "server closed the connection")
    if isinstance(exc, aiohttp.ClientPayloadError):
        return TransientError(service, "response was cut off")
    return TransientError(service, f"{type(exc).__name__}: {exc}")


@asynccontextmanager
async def request(session: aiohttp.ClientSession, method: str, url: str, *, service: str,
                  timeout: aiohttp.ClientTimeout | float | None = None,
                  headers: Mapping[str, str] | None = None, **kwargs: Any) -> AsyncIterator[aiohttp.ClientResponse]:
    """Open a request whose errors are typed; the response is already checked for status."""
    if isinstance(timeout, (int, float)):
        timeout = aiohttp.ClientTimeout(total=timeout)
    try:
        async with session.request(method, url, timeout=timeout, headers=headers, **kwargs) as response:
            await raise_for_status(response, service)
            yield response
    except ServiceError:
        raise
    except (TimeoutError, aiohttp.ClientError) as exc:
        raise connection_error(service, exc) from exc


async def request_bytes(session: aiohttp.ClientSession, method: str, url: str, *, service: str,
                        timeout: aiohttp.ClientTimeout | float | None = None,
                        max_bytes: int = DEFAULT_MAX_BYTES, **kwargs: Any) -> bytes:
    """A whole body, bounded in size, with a cut or stalled read as a typed transient error."""
    async with request(session, method, url, service=service, timeout=timeout, **kwargs) as response:
        try:
            return await read_limited(response, service, max_bytes)
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise connection_error(service, exc) from exc


async def request_json(session: aiohttp.ClientSession, method: str, url: str, *, service: str,
                       timeout: aiohttp.ClientTimeout | float | None = None,
                       max_bytes: int = DEFAULT_MAX_BYTES, **kwargs: Any) -> Any:
    """A whole JSON answer, bounded in size; malformed JSON is a transient error (proxies, restarts)."""
    body = await request_bytes(session, method, url, service=service, timeout=timeout, max_bytes=max_bytes,
                               **kwargs)
    try:
        return parse_json(body)
    except ValueError:
        raise TransientError(service, f"answer is not JSON: {body[:120]!r}") from None
