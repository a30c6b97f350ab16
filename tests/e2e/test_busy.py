"""A busy server end to end: many members at once on the local Discord, with the real bot.

Answers in one channel run concurrently while each member's order and memory's order hold; a member
who floods does not delay anyone's first answer; waiting members are told their place; quotas are
reached and reset; the bot notices at once that the providers are back; and the small defects found
on the way (an early reminder, a deleted answer re-posted, a backslash nickname) stay fixed.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import re
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest

from devtools.discord_emulator import DiscordEmulator
from devtools.fakes.llm_server import FakeLLMServer, Reply
from devtools.fakes.search_servers import FakeSearchServers, searxng_result
from discord_ui.stream import UNAVAILABLE

TOKEN = re.compile(r"\btok\d+\b")


def token_echo(delays: random.Random | None = None, *, seconds: float = 0.3,
               usage: tuple[int, int] = (11, 7)) -> Any:
    """The fake model answers `Answer for tokN.` to the prompt carrying tokN, after a (random) delay."""

    def respond(body: Any) -> Reply:
        last = next(m["content"] for m in reversed(body["messages"]) if m["role"] == "user")
        found = TOKEN.findall(last)
        delay = delays.uniform(0.0, seconds) if delays else seconds
        return Reply(text=f"Answer for {found[-1] if found else 'nothing'}.", first_token_delay=delay, usage=usage)

    return respond


def chat_env(llm: FakeLLMServer, **overrides: Any) -> dict[str, Any]:
    return {"ollama_host": llm.url, "chat_stream_edit_interval": 0.2, "log_level": "INFO", **overrides}


def asked_in(request: Any) -> str:
    last = next(m["content"] for m in reversed(request.json["messages"]) if m["role"] == "user")
    return TOKEN.findall(last)[-1]


@pytest.fixture
async def backup() -> AsyncIterator[FakeLLMServer]:
    async with FakeLLMServer() as server:
        yield server


@pytest.fixture
async def search() -> AsyncIterator[FakeSearchServers]:
    async with FakeSearchServers() as servers:
        yield servers


async def test_concurrent_answers_keep_each_members_order_and_memory_order(bot_factory, emulator: DiscordEmulator,
                                                                            llm: FakeLLMServer) -> None:
    bot = await bot_factory(extensions=["cogs.chat"], **chat_env(llm, chat_channel_concurrency=4))
    llm.responder = token_echo(random.Random(15))
    general = emulator.channel("general")
    members = [await emulator.add_member(f"member{i}") for i in range(8)]
    sent: list[tuple[Any, str, Any]] = []  # (member, token, message), in arrival order
    for round_no in range(3):
        for i, member in enumerate(members):
            token = f"tok{round_no * 100 + i}"
            sent.append((member, token, await emulator.send_message(member, general, f"about {token}",
                                                                    mentions_bot=True)))

    def answer_to(message: Any) -> Any:
        return next((m for m in emulator.bot_messages(general)
                     if m.reference and int(m.reference["message_id"]) == message.id
                     and m.content.startswith("Answer for")), None)

    await emulator.wait_until(lambda: all(answer_to(m) for _, _, m in sent), timeout=30, message="every answer")
    for _, token, message in sent:  # each answer is a reply to its own prompt, with its own answer
        assert answer_to(message).content == f"Answer for {token}."
    assert 1 < llm.max_in_flight <= 4  # concurrent in one channel, bounded by CHAT_CHANNEL_CONCURRENCY

    # One member's prompts went to the model one after another, each seeing the previous exchange.
    requests = {asked_in(r): r for r in llm.chat_requests}
    for member in members:
        own = [t for m, t, _ in sent if m is member]
        for earlier, later in itertools.pairwise(own):
            context = [m["content"] for m in requests[later].json["messages"]]
            assert f"Answer for {earlier}." in context, (member.username, later, context)

    # Memory lists the exchanges in the order the prompts arrived, whatever order they finished in.
    finished = sorted(sent, key=lambda s: answer_to(s[2]).versions[-1].at)
    assert finished != sent  # the answers did finish out of arrival order
    store = bot.services.conversations
    expected = [x for _, token, _ in sent for x in (f"about {token}", f"Answer for {token}.")]
    for _ in range(100):  # the last exchange is stored just after its answer is shown
        turns = await store.recent(general.id, 10**9, max_turns=1000)
        if len(turns) == len(expected):
            break
        await asyncio.sleep(0.05)
    assert [t.content for t in turns] == expected


async def test_a_flooding_member_does_not_delay_anothers_first_answer(bot_factory, emulator: DiscordEmulator,
                                                                       llm: FakeLLMServer) -> None:
    await bot_factory(extensions=["cogs.chat"], **chat_env(llm, llm_max_concurrency="ollama:1", member_rate_burst=20))
    llm.responder = token_echo(seconds=0.4)
    flooder, carol = await emulator.add_member("flooder"), emulator.member("carol")
    rooms = [emulator.channel("general"), emulator.channel("random"), emulator.channel("general-thread")]
    rooms.append(await emulator.add_channel("room3"))
    flood = [await emulator.invoke(flooder, rooms[i % 4], "chat", prompt=f"flood tok{i}") for i in range(8)]
    await llm.wait_for_chat_requests(1)
    mine = await emulator.invoke(carol, rooms[0], "chat", prompt="my first question tok99")
    result = await mine.wait_done(timeout=15)
    await emulator.wait_until(lambda: result.original.content == "Answer for tok99.", timeout=15,
                              message="carol's answer")
    order = [asked_in(r) for r in llm.chat_requests]
    # Carol went at the next free slot: at most one flood prompt asked before hers after she came, not seven.
    assert order.index("tok99") <= 2, order

    # The flood is answered too, and the flooder was told where their prompts stood meanwhile.
    for inter in flood:
        done = await inter.wait_done(timeout=20)
        await emulator.wait_until(lambda done=done: done.original.content.startswith("Answer for tok"), timeout=20,
                                  message="a flood answer")
    notices = [v for inter in flood for v in inter.result().original.contents if "in line" in v]
    assert any(re.fullmatch(r"⏳ Waiting for the model: you are number \d+ in line\.", v) for v in notices), notices
    assert all(inter.result().original.content.startswith("Answer for") for inter in flood)  # notice replaced
    assert all(inter.result().original.flags & 4 for inter in flood)  # SUPPRESS_EMBEDS: no link previews


async def test_quotas_are_reached_and_reset_at_midnight_utc(bot_factory, emulator: DiscordEmulator,
                                                             llm: FakeLLMServer) -> None:
    bot = await bot_factory(extensions=["cogs.chat", "cogs.admin"], admin_guild_ids=[emulator.guild.id],
                            **chat_env(llm, member_daily_tokens=20_000, server_daily_tokens=30_000))
    now = [datetime(2026, 5, 4, 23, 58, tzinfo=UTC).timestamp()]
    bot.services.limits.quotas.store.clock = lambda: now[0]  # a wall clock the test moves
    llm.responder = token_echo(seconds=0, usage=(15_000, 6_000))
    general = emulator.channel("general")

    async def chat(name: str, token: str) -> Any:
        inter = await emulator.invoke(emulator.member(name), general, "chat", prompt=f"question {token}")
        return await inter.wait_done(timeout=10)

    first = await chat("carol", "tok1")
    await emulator.wait_until(lambda: first.original.content == "Answer for tok1.", timeout=10, message="answer")
    # 21,000 tokens used: over her 20,000. (Refused by the cog, privately, or, when the first answer's
    # tokens were charged a moment after its text showed, by the router before any request.)
    refused = await chat("carol", "tok2")
    assert refused.text == "You have used your 20,000 tokens for today; resets at 00:00 UTC, in 2 min."
    second = await chat("dave", "tok3")  # Dave has his own quota...
    await emulator.wait_until(lambda: second.original.content == "Answer for tok3.", timeout=10, message="answer")
    server = await chat("alice", "tok4")  # ...but the server has now used 42,000 of its 30,000
    assert server.text.startswith("This server has used its 30,000 tokens for today")
    assert len(llm.chat_requests) == 2

    health = await (await emulator.invoke(emulator.member("alice"), general, "health")).wait_done(timeout=10)
    [field] = [f for f in health.embeds[0]["fields"] if f["name"] == "Token quotas today (UTC)"]
    assert "this server: 42,000 of 30,000 tokens" in field["value"]
    assert "per member: 20,000 tokens · 2 at their limit" in field["value"]

    now[0] += 3 * 60  # 00:01 UTC: a new day for everyone
    again = await chat("carol", "tok5")
    await emulator.wait_until(lambda: again.original.content == "Answer for tok5.", timeout=10, message="answer")


async def test_recovery_within_a_second_after_every_provider_returns(bot_factory, emulator: DiscordEmulator,
                                                                      llm: FakeLLMServer,
                                                                      backup: FakeLLMServer) -> None:
    await bot_factory(extensions=["cogs.chat"], **chat_env(
        llm, openai_base_url=backup.openai_url, llm_fallback_enabled=True, llm_fallback_models="openai:gpt-4o-mini",
        llm_circuit_failure_threshold=1, llm_circuit_cooldown=30, llm_circuit_cooldown_max=300))
    general = emulator.channel("general")
    await llm.refuse_connections()
    await backup.refuse_connections()
    down = await (await emulator.invoke(emulator.member("carol"), general, "chat", prompt="anyone?")).wait_done(
        timeout=10)
    assert down.text == UNAVAILABLE  # both circuits are open now, for 30 s

    await llm.accept_connections()
    await backup.accept_connections()
    llm.queue(Reply(text="Back again."))
    backup.queue(Reply(text="Back again."))
    started = time.monotonic()
    inter = await emulator.invoke(emulator.member("carol"), general, "chat", prompt="and now?")
    result = await inter.wait_done(timeout=10)
    await emulator.wait_until(lambda: result.original.content == "Back again.", timeout=10, message="the answer")
    assert time.monotonic() - started < 1.0  # not "circuit open, next try in 29 s"


async def test_a_reminder_in_3_seconds_never_fires_early(bot_factory, emulator: DiscordEmulator) -> None:
    await bot_factory(extensions=["cogs.reminders"])
    general = emulator.channel("general")
    # Ask late in a second (x.55): truncating "now" to the second would lose more than half of it.
    await asyncio.sleep((0.55 - time.time() % 1) % 1)
    asked = time.monotonic()
    confirm = await (await emulator.invoke(emulator.member("carol"), general, "remind", when="in 3 seconds",
                                           what="stretch")).wait_done(timeout=5)
    assert "stretch" in confirm.text
    delivery = await emulator.wait_for_message(general, lambda m: m.content.startswith("⏰") and "stretch" in m.content
                                               and "Reminder #" not in m.content, timeout=10)
    assert delivery.created_at - asked >= 3.0


async def test_deleting_an_answer_while_it_streams_cancels_it(bot_factory, emulator: DiscordEmulator,
                                                               llm: FakeLLMServer) -> None:
    bot = await bot_factory(extensions=["cogs.chat"], **chat_env(llm))
    general = emulator.channel("general")
    words = [f"word{i} " for i in range(40)]
    llm.queue(Reply(chunks=words, token_delay=0.1))
    asked = await emulator.send_message(emulator.member("carol"), general, "tell me everything", mentions_bot=True)
    answer = await emulator.wait_for_message(general, lambda m: m.content.startswith("word0"), timeout=10)
    await emulator.delete_message(answer, by=emulator.member("bob"))  # a moderator removes it mid-answer
    await emulator.wait_until(lambda: llm.in_flight == 0, timeout=3, message="the model's stream closed")
    assert len(llm.chat_requests) == 1
    await asyncio.sleep(1.0)
    assert [m for m in emulator.bot_messages(general) if m.id != answer.id] == []  # not posted again
    assert await bot.services.conversations.recent(general.id, 10**6) == []  # and not remembered
    assert asked.id  # the prompt itself stays; the moderator only removed the answer


async def test_a_backslash_nickname_does_not_break_mention_handling(bot_factory, emulator: DiscordEmulator,
                                                                     llm: FakeLLMServer) -> None:
    await bot_factory(extensions=["cogs.chat"], **chat_env(llm))
    windows = await emulator.add_member("winuser")
    windows.nick = "C:\\Users"  # the server nickname, sent with the mention
    general = emulator.channel("general")
    llm.queue(Reply(text="Hello to them."))
    await emulator.send_message(emulator.member("carol"), general, f"say hi to <@{windows.id}> \\1 \\g<0>",
                                mentions_bot=True)
    await emulator.wait_for_message(general, lambda m: m.content == "Hello to them.", timeout=10)
    assert llm.chat_requests[-1].json["messages"][-1]["content"] == "Carol: say hi to @C:\\Users \\1 \\g<0>"


async def test_searches_queue_with_their_place_shown_and_identical_ones_are_made_once(
        bot_factory, emulator: DiscordEmulator, search: FakeSearchServers) -> None:
    await bot_factory(extensions=["cogs.search", "cogs.admin"], admin_guild_ids=[emulator.guild.id], web_search_enabled=True,
                      web_search_engine="searxng", web_search_rate_limit_delay=0.6, **search.settings_env())
    general = emulator.channel("general")
    members = [await emulator.add_member(f"searcher{i}") for i in range(5)]
    for i in range(5):
        search.searxng_answers[f"topic {i}"] = {"results": [searxng_result(f"Topic {i}", f"https://example.org/{i}")]}
    asked = [await emulator.invoke(m, general, "search", query=f"topic {i}") for i, m in enumerate(members)]
    same = [await emulator.invoke(await emulator.add_member(f"same{i}"), general, "search", query="topic 4")
            for i in range(3)]
    for inter in asked + same:
        result = await inter.wait_done(timeout=20)
        await emulator.wait_until(lambda result=result: result.embeds, timeout=20, message="the results")
    assert len(search.requests_to("searxng")) == 5  # the three identical searches joined the fifth
    # Five searches 0.6 s apart: the later ones waited (none was refused) and were shown their place.
    notices = [v for inter in asked for v in inter.result().original.contents if "in line" in v]
    assert any(re.fullmatch(r"⏳ Waiting for web search: you are number \d+ in line\.", v) for v in notices)
    assert all(inter.result().original.content == "" and inter.result().embeds for inter in asked + same)

    health = await (await emulator.invoke(emulator.member("alice"), general, "health")).wait_done(timeout=10)
    assert "**search:web (searxng)**" in health.embeds[0]["description"]


async def test_one_rate_limit_is_shared_by_every_costly_command(bot_factory, emulator: DiscordEmulator,
                                                                  llm: FakeLLMServer, search: FakeSearchServers) -> None:
    await bot_factory(extensions=["cogs.chat", "cogs.search", "cogs.reminders"],
                      **chat_env(llm, member_rate_burst=4, member_rate_per_minute=1, web_search_enabled=True,
                                 web_search_engine="searxng", urban_nsfw_only=False, **search.settings_env()))
    llm.responder = token_echo(seconds=0)
    general, carol = emulator.channel("general"), emulator.member("carol")
    search.add_wiki_page("Moon", "The Moon orbits the Earth.")
    spent = [("chat", {"prompt": "one tok1"}), ("search", {"query": "moon"}), ("wiki", {"query": "Moon"}),
             ("urban", {"term": "yeet"})]
    for command, options in spent:  # the burst of four, one of each kind
        done = await (await emulator.invoke(carol, general, command, **options)).wait_done(timeout=10)
        assert "Slow down" not in done.text, (command, done.text)
    for command, options in [("ask", {"question": "why tok2"}), ("wiki", {"query": "Moon"})]:
        refused = await (await emulator.invoke(carol, general, command, **options)).wait_done(timeout=10)
        assert refused.ephemeral and refused.text.startswith("Slow down: you can ask again in "), refused.text
    await emulator.send_message(carol, general, "and a mention tok3", mentions_bot=True)
    told = await emulator.wait_for_message(general, lambda m: m.content.startswith("Slow down"), timeout=10)
    assert told.content.startswith("Slow down: you can ask again in ")
    reminder = await (await emulator.invoke(carol, general, "remind", when="in 1 hour", what="tea")).wait_done(
        timeout=10)
    assert "tea" in reminder.text  # a reminder costs nothing upstream: not limited
    other = await (await emulator.invoke(emulator.member("dave"), general, "wiki", query="Moon")).wait_done(timeout=10)
    assert other.embeds  # the limit is per member
