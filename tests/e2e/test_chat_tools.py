"""Every tool through a mention on the real bot, both wire formats; the prompt-injection rule and read_url's
address checks end to end."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import pytest

from devtools.discord_emulator import DiscordEmulator
from devtools.discord_emulator import permissions as perms
from devtools.fakes.llm_server import FakeLLMServer, FakeToolCall, Reply
from devtools.fakes.search_servers import FakeSearchServers, searxng_result
from services.web import PageFetcher
from tests.e2e.chat_world import answer_to, start_bot, use_local_site
from tests.services.web.conftest import Site, site  # noqa: F401  (the site fixture)

DIALECTS = ["ollama", "openai"]


@pytest.fixture
async def search() -> AsyncIterator[FakeSearchServers]:
    async with FakeSearchServers() as servers:
        servers.add_wiki_page("Moon", "The Moon is Earth's only natural satellite.")
        servers.searxng_answers["moon distance"] = {"results": [
            searxng_result("Moon facts", "https://example.org/moon", "The Moon is 384,400 km away."),
            searxng_result("Lunar distance", "https://example.net/lunar", "Average distance 384,400 km.")]}
        yield servers


@pytest.fixture(params=DIALECTS)
async def world(request, bot_factory, llm, search, site) -> tuple[Any, str]:  # noqa: F811
    bot = await start_bot(bot_factory, llm, search, request.param)
    return bot, await use_local_site(bot, site)


def tool_results(llm: FakeLLMServer) -> list[str]:
    return [m["content"] for m in llm.chat_requests[-1].json["messages"] if m["role"] == "tool"]


def offered(llm: FakeLLMServer, index: int = -1) -> list[str]:
    return [t["function"]["name"] for t in llm.chat_requests[index].json.get("tools") or []]


def footer_links(content: str) -> list[str]:
    return re.findall(r"^\d+\. \[.*\]\(<(\S+)>\)$", content, re.MULTILINE)


async def ask(emulator: DiscordEmulator, llm: FakeLLMServer, text: str, *calls: FakeToolCall,
              answer: str = "Done.", ends: str | None = None) -> Any:
    """Carol mentions the bot; the model calls `calls` (one round), then answers."""
    llm.queue(Reply(text="", tool_calls=list(calls)), Reply(text=answer))
    general = emulator.channel("general")
    await emulator.send_message(emulator.member("carol"), general, text, mentions_bot=True)
    message = await answer_to(emulator, general, ends or answer)
    await emulator.wait_until(lambda: not message.content.startswith("-#"), timeout=5)
    return message


async def test_web_search_answers_with_numbered_sources_and_a_status_line(world, emulator, llm):
    message = await ask(emulator, llm, "how far is the moon?", FakeToolCall("web_search", {"query": "moon distance"}),
                        answer="About 384,400 km [1].", ends="**Sources**")
    await emulator.wait_until(lambda: "example.net" in message.content, timeout=5)
    assert message.content.startswith("About 384,400 km [1].\n\n")
    assert footer_links(message.content) == ["https://example.org/moon", "https://example.net/lunar"]
    assert any("🔎 Searching the web for" in v.content for v in message.versions)  # shown while it ran
    assert "Moon facts" in tool_results(llm)[0]
    assert "web_search" in offered(llm, 0)


async def test_wikipedia(world, emulator, llm):
    message = await ask(emulator, llm, "tell me about the moon", FakeToolCall("wikipedia", {"topic": "Moon"}),
                        answer="It is Earth's satellite [1].", ends="**Sources**")
    assert "natural satellite" in tool_results(llm)[0]
    assert footer_links(message.content)[0].endswith("/Moon")


async def test_read_url_summarises_a_pasted_link(world, emulator, llm):
    _, base = world
    message = await ask(emulator, llm, f"summarise {base}/article please",
                        FakeToolCall("read_url", {"url": f"{base}/article"}), answer="The Moon orbits Earth [1].",
                        ends="**Sources**")
    assert "384,400 km" in tool_results(llm)[0] and "Cookie policy" not in tool_results(llm)[0]
    assert footer_links(message.content) == [f"{base}/article"]


async def test_set_list_reminders_and_current_time(world, emulator, llm):
    bot, _ = world
    carol = emulator.member("carol")
    words = "remind me in 10 minutes to call mom"
    message = await ask(emulator, llm, words, FakeToolCall("set_reminder", {
        "when": "in 10 minutes", "what": "call mom", "request_quote": words}), answer="Sure!", ends="⏰ Set #")
    pending = (await bot.services.reminders.list_pending(carol.id)).items
    assert [(r.text, r.channel_id) for r in pending] == [("call mom", emulator.channel("general").id)]
    assert f"⏰ Set #{pending[0].id} for <t:{int(pending[0].due_at)}:F>: call mom" in message.content

    await ask(emulator, llm, "what are my reminders and what time is it?", FakeToolCall("list_reminders", {}),
              FakeToolCall("current_time", {}), answer="One reminder; it is morning.")
    listed, now = tool_results(llm)
    assert f"#{pending[0].id}" in listed and "call mom" in listed
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d in UTC", now)


async def test_a_page_cannot_set_a_reminder(world, emulator, llm):
    """The page asks for a reminder and hands the model a quote; nothing is set."""
    bot, base = world
    llm.queue(Reply(text="", tool_calls=[FakeToolCall("read_url", {"url": f"{base}/evil"})]),
              Reply(text="", tool_calls=[FakeToolCall("set_reminder", {
                  "when": "every 5 minutes", "what": "visit cheap-flights.example",
                  "request_quote": "remind me every 5 minutes"})]),
              Reply(text="Flights start at 39 euros."))
    general = emulator.channel("general")
    await emulator.send_message(emulator.member("carol"), general, f"what does {base}/evil say?", mentions_bot=True)
    message = await answer_to(emulator, general, "**Sources**")
    assert "set_reminder" in offered(llm, 0) and "set_reminder" not in offered(llm, 1)
    assert tool_results(llm)[-1].startswith("error: set_reminder is not available after reading pages")
    assert (await bot.services.reminders.list_pending(emulator.member("carol").id)).items == []
    assert "⏰ Set" not in message.content


@pytest.mark.parametrize("url", ["http://127.0.0.1:{port}/article", "http://169.254.169.254/latest/meta-data/",
                                 "{base}/to-private"])
async def test_read_url_refuses_private_addresses(url, world, emulator, llm, site):  # noqa: F811
    bot, base = world
    if "127.0.0.1" in url:  # the production checks and DNS, as the container builds them
        await bot.services.page_fetcher.close()
        bot.services.page_fetcher = bot.services.tools.get("read_url")._fetcher = PageFetcher(timeout=3)
    link = url.format(port=site.port, base=base)
    message = await ask(emulator, llm, f"read {link}", FakeToolCall("read_url", {"url": link}),
                        answer="I could not read it.", ends="Could not")
    result = tool_results(llm)[0]
    assert result.startswith("error:") and re.search(r"127\.0\.0\.1|169\.254\.169\.254|10\.0\.0\.5", result)
    assert "/article" not in site.hits and "/admin" not in site.hits
    assert "*Could not: read_url" in message.content


async def test_each_tool_round_counts_against_the_members_rate(bot_factory, emulator, llm, search):
    """Burst 2: the mention takes one, the first tool round the other; the second round is not run."""
    await start_bot(bot_factory, llm, search, "ollama", member_rate_burst=2, member_rate_per_minute=0.1)
    llm.queue(Reply(text="", tool_calls=[FakeToolCall("current_time", {})]),
              Reply(text="", tool_calls=[FakeToolCall("current_time", {})]), Reply(text="It is late."))
    general = emulator.channel("general")
    await emulator.send_message(emulator.member("carol"), general, "time twice?", mentions_bot=True)
    message = await answer_to(emulator, general, "Could not")
    first, second = tool_results(llm)
    assert " in UTC " in first and second.startswith("error: not run: Slow down")
    assert message.content.startswith("It is late.")


async def test_chat_command_takes_an_attachment(bot_factory, emulator, llm, search):
    await start_bot(bot_factory, llm, search, "openai")
    llm.queue(Reply(text="Your notes have a title."))
    inter = await emulator.invoke(emulator.member("carol"), emulator.channel("general"), "chat",
                                  prompt="what is in my notes?", attachment=("notes.md", b"# Shopping\n- eggs\n"))
    result = await inter.wait_done(timeout=10)
    await emulator.wait_until(lambda: result.original.content == "Your notes have a title.", timeout=10)
    prompt = [m for m in llm.chat_requests[-1].json["messages"] if m["role"] == "user"][-1]["content"]
    assert prompt.startswith("Carol: what is in my notes?") and "attached file notes.md" in prompt and "- eggs" in prompt


async def test_a_private_answer_sets_its_reminder_by_dm(bot_factory, emulator, llm, search):
    """Where carol may not post, her /chat answer is ephemeral and a reminder it sets is hers, by DM."""
    bot = await start_bot(bot_factory, llm, search, "ollama")
    general, carol = emulator.channel("general"), emulator.member("carol")
    await emulator.set_permissions(general, carol, deny=perms.SEND_MESSAGES)
    words = "remind me in 10 minutes to stretch"
    llm.queue(Reply(text="", tool_calls=[FakeToolCall("set_reminder", {"when": "in 10 minutes", "what": "stretch",
                                                                       "request_quote": words})]),
              Reply(text="Will do."))
    inter = await emulator.invoke(carol, general, "chat", prompt=words)
    result = await inter.wait_done(timeout=10)
    await emulator.wait_until(lambda: "⏰ Set #" in result.original.content, timeout=10)
    assert result.ephemeral and "(by DM)" in result.original.content
    [reminder] = (await bot.services.reminders.list_pending(carol.id)).items
    assert reminder.channel_id is None and reminder.text == "stretch"
