"""Fetch one page for the model, safely enough to point at the internet.

Every hop (the link and each redirect, followed by hand, at most `max_redirects`) is checked
before any byte is sent: http or https only, no user name or password in the link, and every
address the name resolves to must be public (services/web/addresses.py). The check lives in
the connector's resolver, so the connection goes to exactly the addresses that were checked:
a DNS answer that changes between check and connect (rebinding) cannot slip through. IP
literals never reach a resolver, so they are checked on the link itself. The whole fetch shares
one deadline; the body is counted as it arrives (after decompression) and cut at `max_bytes`.

This fetcher owns its own HTTP session: its connector (checking resolver, no DNS cache, no
cookies, no proxy from the environment) must not be shared with the bot's trusted clients.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from dataclasses import dataclass
from urllib.parse import urljoin

import aiohttp
import yarl
from aiohttp.abc import AbstractResolver, ResolveResult

from services.errors import ServiceError, ServiceTimedOut, error_for_status
from services.http import connection_error
from services.web.addresses import AddressPolicy, parse_ip
from services.web.errors import SERVICE, PageRefused, PageUnreadable
from services.web.readable import readable_text

log = logging.getLogger(__name__)

REDIRECTS = (301, 302, 303, 307, 308)
TEXT_TYPES = ("text/html", "application/xhtml+xml", "text/plain", "text/markdown")


@dataclass(frozen=True)
class Page:
    url: str  # where the text came from, after redirects
    title: str
    text: str
    truncated: bool = False


class CheckingResolver(AbstractResolver):
    """Resolves with `base`, then refuses the name if any address it got is not allowed."""

    def __init__(self, policy: AddressPolicy, base: AbstractResolver | None = None) -> None:
        self._policy = policy
        self._base = base or aiohttp.ThreadedResolver()

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        results = await self._base.resolve(host, port, family)
        for result in results:
            ip = parse_ip(result["host"])
            why = "not an IP address" if ip is None else self._policy.refusal(ip)
            if why:
                raise PageRefused(f"{host} resolves to {result['host']}, which is refused: {why}")
        return results

    async def close(self) -> None:
        await self._base.close()


class PageFetcher:
    def __init__(self, *, timeout: float = 10.0, max_bytes: int = 2_000_000, max_chars: int = 8000,
                 max_redirects: int = 5, user_agent: str = "discord-llm-bot", policy: AddressPolicy | None = None,
                 resolver: AbstractResolver | None = None) -> None:
        """`resolver` is the name lookup under the check (tests map names to local addresses)."""
        self.timeout = timeout
        self.max_bytes = max_bytes
        self.max_chars = max_chars
        self.max_redirects = max_redirects
        self._user_agent = user_agent
        self.policy = policy or AddressPolicy()
        self._base_resolver = resolver
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(resolver=CheckingResolver(self.policy, self._base_resolver),
                                             use_dns_cache=False, limit=8)
            self._session = aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.DummyCookieJar(),
                                                  trust_env=False, headers={"User-Agent": self._user_agent})
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def read(self, url: str) -> Page:
        """The page's readable text (title, then text, cut at `max_chars`)."""
        final_url, content_type, body, charset = await self.fetch(url)
        title, text = await asyncio.to_thread(readable_text, body, content_type, charset, final_url)
        if not text.strip():
            raise PageUnreadable(f"{final_url} has no readable text")
        truncated = len(text) > self.max_chars
        return Page(final_url, title, text[:self.max_chars].rstrip() + ("…" if truncated else ""), truncated)

    async def fetch(self, url: str) -> tuple[str, str, bytes, str | None]:
        """(final URL, content type, body, charset); PageRefused, PageUnreadable or a transient error."""
        try:
            async with asyncio.timeout(self.timeout):
                return await self._follow(url)
        except TimeoutError:
            raise ServiceTimedOut(SERVICE, f"the page took longer than {self.timeout:g} s") from None

    async def _follow(self, url: str) -> tuple[str, str, bytes, str | None]:
        for _ in range(self.max_redirects + 1):
            target = check_link(url, self.policy)
            try:
                async with self._client().get(target, allow_redirects=False,
                                              headers={"Accept": "text/html,text/plain;q=0.9"}) as response:
                    if response.status in REDIRECTS and "Location" in response.headers:
                        url = urljoin(str(response.url), response.headers["Location"])
                        continue
                    if response.status >= 400:
                        raise error_for_status(SERVICE, response.status, f"{target.host} answered {response.status}")
                    return str(response.url), *await self._body(response)
            except ServiceError:
                raise
            except (aiohttp.ClientError, OSError) as exc:
                raise connection_error(SERVICE, exc) from exc
        raise PageUnreadable(f"more than {self.max_redirects} redirects")

    async def _body(self, response: aiohttp.ClientResponse) -> tuple[str, bytes, str | None]:
        content_type = response.content_type
        if content_type not in TEXT_TYPES:
            raise PageUnreadable(f"not a web page ({content_type})")
        if response.content_length is not None and response.content_length > self.max_bytes:
            raise PageUnreadable(f"the page is larger than {self.max_bytes:,} bytes")
        chunks, size = [], 0
        async for chunk in response.content.iter_chunked(64 * 1024):
            size += len(chunk)
            if size > self.max_bytes:
                raise PageUnreadable(f"the page is larger than {self.max_bytes:,} bytes")
            chunks.append(chunk)
        return content_type, b"".join(chunks), response.charset


def check_link(url: str, policy: AddressPolicy) -> yarl.URL:
    """The parsed link when it may be fetched; PageRefused saying why not."""
    try:
        parsed = yarl.URL(url.strip())
        host = parsed.host
    except (ValueError, TypeError):
        raise PageRefused(f"{url[:100]!r} is not a valid link") from None
    if parsed.scheme not in ("http", "https"):
        raise PageRefused("only http:// and https:// links can be read")
    if parsed.user or parsed.password:
        raise PageRefused("links with a user name or password in them are refused")
    if not host:
        raise PageRefused(f"{url[:100]!r} has no host name")
    ip = parse_ip(host)
    if ip is not None:
        if why := policy.refusal(ip):
            raise PageRefused(f"refused: {why}")
    elif host.replace(".", "").isdigit() or host.lower().startswith("0x"):
        raise PageRefused(f"{host} is not a canonical address")  # 2130706433, 127.1, 0x7f.1 would reach loopback
    return parsed
