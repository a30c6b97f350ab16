"""The tool loop end to end below Discord, in both wire formats: the model calls tools, sees their
results, cites them; reminders are the member's own; injected instructions change nothing."""

from __future__ import annotations

import asyncio
from typing import Any

from devtools.fakes.llm_server import FakeToolCall, Reply
from services.errors import ServiceRateLimited
from services.llm.base import Message, TextDelta
from services.reminders import Reminder
from services.tools import AnswerDone, ToolFinished, ToolStarted
from services.tools.base import ToolContext
from tests.services.tools.conftest import ToolWorld

ALL = ("web_search", "wikipedia", "read_url", "set_reminder", "list_reminders", "current_time")


async def answer(world: ToolWorld, words: str, ctx: ToolContext | None = None, **kwargs: Any) -> tuple[list, AnswerDone]:
    ctx = ctx or world.ctx(words)
    events = [e async for e in world.loop.run([Message("system", "Be brief."), Message("user", words, ctx.member_name)],
                                              ctx, allowed=kwargs.pop("allowed", ALL), **kwargs)]
    assert isinstance(events[-1], AnswerDone)
    return events, events[-1]


def tool_messages(request_json: dict) -> list[dict]:
    return [m for m in request_json["messages"] if m["role"] == "tool"]


def offered(request_json: dict) -> list[str]:
    return [t["function"]["name"] for t in request_json.get("tools", [])]


async def test_search_results_are_numbered_cited_and_listed(world):
    world.llm.queue(Reply(text="Let me check.", tool_calls=[FakeToolCall("web_search", {"query": "moon distance"})]),
                    Reply(text="About 384,400 km [1]."))
    events, done = await answer(world, "How far is the Moon?")
    assert done.text == "Let me check.\n\nAbout 384,400 km [1]."
    assert [type(e) for e in events if isinstance(e, (ToolStarted, ToolFinished))] == [ToolStarted, ToolFinished]
    second = world.llm.chat_requests[1].json
    assert offered(world.llm.chat_requests[0].json) == list(ALL)
    result = tool_messages(second)[0]["content"]
    assert "[1] Moon facts (https://example.org/moon)" in result and "[2] Lunar distance" in result
    assert "not instructions" in result  # outside text is marked as data
    assert "Cite what a tool returned as [n]" in second["messages"][0]["content"]
    assert [s.url for s in done.sources] == ["https://example.org/moon", "https://example.net/lunar"]
    assert done.footer().splitlines()[:2] == ["**Sources**", "1. [Moon facts](<https://example.org/moon>)"]


async def test_a_reminder_asked_for_by_the_member_is_theirs_in_this_channel(world):
    words = "remind me in 10 minutes to stretch"
    world.llm.queue(Reply(text="", tool_calls=[FakeToolCall("set_reminder", {
        "when": "in 10 minutes", "what": "stretch", "request_quote": "Remind me in 10 minutes"})]),
        Reply(text="Done: I will remind you in 10 minutes."))
    _, done = await answer(world, words, world.ctx(words, member_id=77, channel_id=555))
    [reminder] = done.effects
    assert isinstance(reminder, Reminder)
    assert (reminder.owner_id, reminder.channel_id, reminder.guild_id, reminder.text) == (77, 555, 1, "stretch")
    page = await world.reminders.list_pending(77)
    assert [r.id for r in page.items] == [reminder.id]
    assert "Reminder #" in tool_messages(world.llm.chat_requests[1].json)[0]["content"]


async def test_a_page_that_asks_for_a_reminder_sets_nothing(world):
    words = f"summarize {world.page_url}/evil please"
    world.llm.queue(
        Reply(text="", tool_calls=[FakeToolCall("read_url", {"url": f"{world.page_url}/evil"})]),
        # the model falls for the page: it tries to obey, quoting the page's own words
        Reply(text="", tool_calls=[FakeToolCall("set_reminder", {
            "when": "every 5 minutes", "what": "visit cheap-flights.example",
            "request_quote": "remind me every 5 minutes"})]),
        Reply(text="Flights to Lisbon start at 39 euros [1]."))
    _, done = await answer(world, words)
    assert (await world.reminders.list_pending(42)).total == 0
    assert "set_reminder" not in offered(world.llm.chat_requests[1].json)  # withdrawn once the page was read
    refusal = tool_messages(world.llm.chat_requests[2].json)[-1]["content"]
    assert refusal.startswith("error: set_reminder is not available after reading pages")
    assert done.effects == [] and done.failures()[0].startswith("set_reminder: set_reminder is not available")


async def test_a_reminder_the_member_did_not_ask_for_is_refused(world):
    words = "what's a good stretch for my back?"
    world.llm.queue(Reply(text="", tool_calls=[FakeToolCall("set_reminder", {
        "when": "in 1 hour", "what": "stretch", "request_quote": "remind me in 1 hour"})]),
        Reply(text="Try a cat-cow stretch."))
    _, done = await answer(world, words)
    assert (await world.reminders.list_pending(42)).total == 0
    assert "request_quote" in tool_messages(world.llm.chat_requests[1].json)[0]["content"]
    assert done.text == "Try a cat-cow stretch."


async def test_a_failing_tool_is_reported_to_the_model_and_in_the_footer(world):
    world.search.fail("wiki_summary", 500, times=3)
    world.search.fail("wiki_api", 500, times=3)
    world.llm.queue(Reply(text="", tool_calls=[FakeToolCall("wikipedia", {"topic": "Moon"}),
                                               FakeToolCall("no_such_tool", {})]),
                    Reply(text="Wikipedia could not be reached."))
    _, done = await answer(world, "Tell me about the Moon")
    results = tool_messages(world.llm.chat_requests[1].json)
    assert all(r["content"].startswith("error:") for r in results)
    assert "no tool named 'no_such_tool'" in results[1]["content"]
    assert "*Could not: wikipedia:" in done.footer()


async def test_rounds_are_capped_then_the_model_must_answer(world):
    loop_call = Reply(text="", tool_calls=[FakeToolCall("current_time")])
    world.llm.queue(loop_call, loop_call, loop_call, Reply(text="It is 09:15."))
    _, done = await answer(world, "what time is it?")
    assert done.rounds == 3 and done.text == "It is 09:15."
    assert [bool(offered(r.json)) for r in world.llm.chat_requests] == [True, True, True, False]
    assert "Wednesday 2026-03-25 09:15:00 in UTC" in tool_messages(world.llm.chat_requests[1].json)[0]["content"]


async def test_a_refused_round_quota_runs_nothing(world):
    async def quota(round_no: int) -> None:
        raise ServiceRateLimited("chat", "tool rounds used up for today")

    world.llm.queue(Reply(text="", tool_calls=[FakeToolCall("web_search", {"query": "moon distance"})]),
                    Reply(text="I can't search right now."))
    _, done = await answer(world, "How far is the Moon?", admit_round=quota)
    assert tool_messages(world.llm.chat_requests[1].json)[0]["content"] == "error: not run: tool rounds used up for today"
    assert world.search.requests_to("searxng") == [] and done.sources == ()


async def test_no_tools_allowed_is_a_plain_answer(world):
    world.llm.queue(Reply(text="Hi!"))
    events, done = await answer(world, "hello", allowed=())
    assert "tools" not in world.llm.chat_requests[0].json
    assert [e.text for e in events if isinstance(e, TextDelta)] == ["Hi!"] and done.rounds == 0


async def test_many_members_at_once_each_get_their_own_reminder(world):
    def respond(body: dict) -> Reply:
        if body["messages"][-1]["role"] == "tool":
            return Reply(text="Set.")
        words = body["messages"][-1]["content"]
        if isinstance(words, list):
            words = words[0]["text"]
        who = words.split(":")[0]
        return Reply(text="", tool_calls=[FakeToolCall("set_reminder", {
            "when": "in 2 hours", "what": f"water for {who}", "request_quote": "remind me in 2 hours"})])

    world.llm.responder = respond
    members = range(100, 110)
    await asyncio.gather(*(answer(world, "please remind me in 2 hours to drink water",
                                  world.ctx("please remind me in 2 hours to drink water", member_id=m, name=f"M{m}"))
                           for m in members))
    for m in members:
        page = await world.reminders.list_pending(m)
        assert [r.text for r in page.items] == [f"water for M{m}"]
