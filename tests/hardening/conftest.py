"""Fixtures of the hardening tests: fake search servers (the fake LLM is shared, in tests/conftest.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from devtools.fakes.search_servers import FakeSearchServers


@pytest.fixture
async def search() -> AsyncIterator[FakeSearchServers]:
    async with FakeSearchServers() as servers:
        yield servers
