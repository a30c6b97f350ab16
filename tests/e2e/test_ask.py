"""/ask end to end: SearXNG and Wikipedia as local fake servers, the LLM as a local Ollama-dialect server."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import pytest

from devtools.discord_emulator import DiscordEmulator
from devtools.fakes.llm_server import FakeLLMServer, Reply
from devtools.fakes.search_servers import FakeSearchServers, searxng_result

QUESTION = "What is asyncio"


@pytest.fixture
async def fake() -> AsyncIterator[FakeSearchServers]:
    async with FakeSearchServers() as servers:
        yield servers


@pytest.fixture
async def ask_bot(bot_factory: Any, fake: FakeSearchServers, llm: FakeLLMServer):
    return await bot_factory(extensions=["cogs.search"], web_search_enabled=True, web_search_engine="searxng",
                             web_search_rate_limit_delay=0, ollama_host=llm.url, chat_stream_edit_interval=0.2,
                             **fake.settings_env())


def sources_in_request(llm: FakeLLMServer) -> dict[int, str]:
    """[n] -> url, as the model was told in the system prompt."""
    system = llm.chat_requests[-1].json["messages"][0]["content"]
    return {int(n): url for n, url in re.findall(r"^\[(\d+)\] .* \((\S+)\)$", system, re.MULTILINE)}


def sources_in_footer(content: str) -> dict[int, str]:
    return {int(n): url for n, url in re.findall(r"^(\d+)\. \[.*\]\(<(\S+)>\)$", content, re.MULTILINE)}


async def test_ask_cites_the_results_it_was_given(ask_bot, emulator: DiscordEmulator, fake, llm):
    fake.searxng_answers[QUESTION] = {"results": [
        searxng_result("asyncio — Asynchronous I/O", "https://docs.python.org/3/library/asyncio.html",
                       "asyncio is a library to write concurrent code using async/await."),
        searxng_result("Async IO in Python [guide]", "https://realpython.com/async-io-python/", "A walkthrough."),
    ]}
    fake.add_wiki_page("Asyncio", "asyncio is a Python standard library module for asynchronous I/O.")
    fake.wiki_search_hits[QUESTION] = ["Asyncio"]
    answer = "asyncio is Python's library for concurrent code with async/await [1][3]."
    llm.queue(Reply(text=answer))

    inter = await emulator.invoke(emulator.member("carol"), emulator.channel("general"), "ask", question=QUESTION)
    result = await inter.wait_done(timeout=10)
    assert inter.acknowledged_after < 3
    await emulator.wait_until(lambda: "**Sources**" in result.original.content, timeout=10, message="the sources")
    content = result.original.content
    assert content.startswith(answer + "\n\n")  # the model's text exactly, then the footer

    given = sources_in_request(llm)
    assert given == {1: "https://docs.python.org/3/library/asyncio.html",
                     2: "https://realpython.com/async-io-python/",
                     3: "https://en.wikipedia.org/wiki/Asyncio"}
    assert sources_in_footer(content) == given  # every number in the answer points at what the model saw
    assert "concurrent code using async/await" in llm.chat_requests[-1].json["messages"][0]["content"]
    assert llm.chat_requests[-1].json["messages"][-1] == {"role": "user", "content": f"Carol: {QUESTION}"}


async def test_ask_still_answers_when_search_fails(ask_bot, emulator, fake, llm):
    fake.fail("searxng", 503, times=5)
    fake.fail("wiki_summary", 503, times=5)
    fake.fail("wiki_api", 503, times=5)
    llm.queue(Reply(text="From memory: asyncio runs coroutines."))
    inter = await emulator.invoke(emulator.member("carol"), emulator.channel("general"), "ask", question=QUESTION)
    result = await inter.wait_done(timeout=10)
    await emulator.wait_until(lambda: "failed" in result.original.content, timeout=10, message="the search note")
    content = result.original.content
    assert content.startswith("From memory: asyncio runs coroutines.\n\n")
    assert "Web search and Wikipedia failed" in content
    assert "(no sources could be fetched)" in llm.chat_requests[-1].json["messages"][0]["content"]
    assert "Traceback" not in content
