"""read_url's fetcher: a public-style page is read; loopback, metadata, private redirects and names,
oversize and slow bodies are all refused with a clear reason, and nothing is sent where it was refused."""

from __future__ import annotations

import pytest

from services.errors import ServiceTimedOut
from services.web import AddressPolicy, PageFetcher, PageRefused, PageUnreadable
from services.web.addresses import parse_ip
from tests.services.web.conftest import LOCAL, MapResolver

NAMES = {"news.test": ["127.0.0.1"], "intranet.test": ["10.1.2.3"], "rebind.test": ["127.0.0.1", "192.168.0.7"],
         "v6.test": ["::ffff:10.0.0.1"]}


def fetcher(policy: AddressPolicy | None = None, **kwargs) -> PageFetcher:
    """Only 127.0.0.1 (the test site) is let through, as if it were a public address."""
    return PageFetcher(policy=policy or AddressPolicy(LOCAL), resolver=MapResolver(NAMES), timeout=2, **kwargs)


@pytest.fixture
async def reader():
    made: list[PageFetcher] = []

    def make(**kwargs) -> PageFetcher:
        made.append(fetcher(**kwargs))
        return made[-1]

    yield make
    for f in made:
        await f.close()


async def test_a_public_page_is_reduced_to_its_article(site, reader):
    page = await reader().read(f"http://news.test:{site.port}/hop")
    assert page.url == f"http://news.test:{site.port}/article"
    assert page.title.startswith("The Moon")
    assert "384,400 km" in page.text and "tidally locked" in page.text and "• Diameter: 3,474 km" in page.text
    for noise in ("Cookie policy", "window.tracking", "Sport", "color:red"):
        assert noise not in page.text
    plain = await reader().read(f"http://news.test:{site.port}/plain")
    assert plain.text == "Just text.\nTwo lines."


async def test_long_text_is_cut_at_the_character_cap(site, reader):
    page = await reader(max_chars=100).read(f"http://news.test:{site.port}/article")
    assert page.truncated and len(page.text) <= 101 and page.text.endswith("…")


@pytest.mark.parametrize("url, reason", [
    ("http://127.0.0.1:{port}/article", "loopback"),
    ("http://169.254.169.254/latest/meta-data/", "cloud metadata"),
    ("http://[::1]:{port}/article", "loopback"),
    ("http://[::ffff:127.0.0.1]:{port}/article", "carries 127.0.0.1"),
    ("http://[::ffff:169.254.169.254]/", "cloud metadata"),
    ("http://[64:ff9b::a00:1]/", "carries 10.0.0.1"),
    ("http://10.0.0.5/", "private network"),
    ("http://100.64.1.1/", "carrier-grade NAT"),
    ("http://224.0.0.1/", "multicast"),
    ("http://[fe80::1]/", "link-local"),
    ("http://2130706433:{port}/", "not a canonical address"),
    ("http://0.0.0.0:{port}/", "unspecified"),
    ("file:///etc/passwd", "only http:// and https://"),
    ("ftp://news.test/", "only http:// and https://"),
    ("http://user:secret@news.test:{port}/article", "user name or password"),
])
async def test_unsafe_links_are_refused_before_any_request(site, reader, url, reason):
    with pytest.raises(PageRefused, match=reason):
        await reader(policy=AddressPolicy()).read(url.format(port=site.port))
    assert site.hits == []


@pytest.mark.parametrize("path, reason", [
    ("/to-private", "10.0.0.5 is a private network address"),
    ("/to-intranet", "intranet.test resolves to 10.1.2.3"),
    ("/to-metadata", "cloud metadata"),
])
async def test_a_redirect_to_a_private_address_is_refused(site, reader, path, reason):
    with pytest.raises(PageRefused, match=reason):
        await reader().read(f"http://news.test:{site.port}{path}")
    assert site.hits == [path]  # the first hop only: nothing was sent to the private target


@pytest.mark.parametrize("name, reason", [
    ("intranet.test", "resolves to 10.1.2.3"),
    ("rebind.test", "resolves to 192.168.0.7"),  # one public answer does not excuse a private one
    ("v6.test", "carries 10.0.0.1"),
])
async def test_a_name_resolving_to_a_private_address_is_refused(site, reader, name, reason):
    with pytest.raises(PageRefused, match=reason):
        await reader().read(f"http://{name}:{site.port}/article")
    assert site.hits == []


async def test_the_connection_goes_to_the_address_that_was_checked(site):
    """One lookup per new connection, checked, and that answer is the one connected to: a name that
    turns private later is refused on the next connection (a kept-alive one stays on the checked address)."""
    resolver = MapResolver(dict(NAMES))
    first = PageFetcher(policy=AddressPolicy(LOCAL), resolver=resolver, timeout=2)
    second = PageFetcher(policy=AddressPolicy(LOCAL), resolver=resolver, timeout=2)
    try:
        await first.read(f"http://news.test:{site.port}/article")
        assert resolver.lookups == ["news.test"]
        resolver.names["news.test"] = ["10.9.9.9"]  # the name now points somewhere private
        with pytest.raises(PageRefused, match=r"10\.9\.9\.9"):
            await second.read(f"http://news.test:{site.port}/article")
    finally:
        await first.close()
        await second.close()
    assert site.hits == ["/article"]


@pytest.mark.parametrize("path", ["/big", "/big-declared"])
async def test_an_oversize_body_is_refused(site, reader, path):
    with pytest.raises(PageUnreadable, match="larger than 1,000,000 bytes"):
        await reader(max_bytes=1_000_000).read(f"http://news.test:{site.port}{path}")


async def test_a_slow_body_runs_out_of_time(site, reader):
    slow = reader()
    slow.timeout = 0.5
    with pytest.raises(ServiceTimedOut, match=r"longer than 0\.5 s"):
        await slow.read(f"http://news.test:{site.port}/slow")


async def test_redirect_loops_and_non_pages_are_refused(site, reader):
    with pytest.raises(PageUnreadable, match="more than 5 redirects"):
        await reader().read(f"http://news.test:{site.port}/loop")
    with pytest.raises(PageUnreadable, match=r"not a web page \(image/png\)"):
        await reader().read(f"http://news.test:{site.port}/image")


def test_public_addresses_pass():
    policy = AddressPolicy()
    for address in ("93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c", "8.8.8.8"):
        ip = parse_ip(address)
        assert ip is not None and policy.refusal(ip) is None
