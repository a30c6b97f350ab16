"""StreamingReply and stream_answer without Discord: a recording sender stands in for the channel."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator

import discord
import pytest

from discord_ui.stream import CUT_OFF, TOO_LONG, UNAVAILABLE, StreamingReply, stream_answer, switch_note
from services.llm import AllProvidersFailed, ChatResult, FailedAttempt, ProviderSwitch, TextDelta, Usage
from services.llm.errors import StreamBroken


class Sent:
    """A posted message: its versions, as Discord would keep them."""

    def __init__(self, content: str) -> None:
        self.versions = [content]

    async def edit(self, *, content: str, allowed_mentions: discord.AllowedMentions) -> None:
        assert allowed_mentions.everyone is False and allowed_mentions.users is False
        self.versions.append(content)


class Channel:
    def __init__(self) -> None:
        self.sent: list[Sent] = []

    async def send(self, content: str) -> Sent:
        message = Sent(content)
        self.sent.append(message)
        return message

    @property
    def shown(self) -> list[str]:
        return [m.versions[-1] for m in self.sent]


def make_reply(channel: Channel, interval: float = 0.05, limit: int = 2000) -> StreamingReply:
    return StreamingReply(channel.send, channel.send, interval=interval, limit=limit)


async def events(*items: object, fail: AllProvidersFailed | None = None) -> AsyncIterator[object]:
    for item in items:
        await asyncio.sleep(0)
        yield item
    if fail is not None:
        raise fail


def result(text: str, switches: tuple[ProviderSwitch, ...] = (), finish_reason: str = "stop") -> ChatResult:
    return ChatResult(text, finish_reason, Usage(1, 1), "ollama", "llama3.2", switches)


async def test_final_text_is_exact_and_switch_note_follows():
    channel = Channel()
    switch = ProviderSwitch("ollama", "llama3.2", "openai", "gpt-4o-mini", "broken")
    outcome = await stream_answer(events(TextDelta("Hello "), switch, TextDelta("world"),
                                         result("Hello world", (switch,))), make_reply(channel))
    assert outcome.status == "complete" and outcome.text == "Hello world"
    assert channel.shown == ["Hello world\n\n" + switch_note([switch])]


async def test_an_answer_cut_at_the_length_limit_says_so():
    channel = Channel()
    outcome = await stream_answer(events(TextDelta("Once upon a"), result("Once upon a", finish_reason="length")),
                                  make_reply(channel), footer="*footer*")
    assert outcome.status == "complete" and outcome.text == "Once upon a"
    assert channel.shown == ["Once upon a\n\n" + TOO_LONG + "\n*footer*"]


async def test_note_after_an_open_code_block_goes_in_its_own_message():
    channel = Channel()
    reply = make_reply(channel)
    text = "Look:\n```python\nprint(1)\n"
    await stream_answer(events(TextDelta(text), result(text)), reply, footer="*footer*")
    assert channel.shown == ["Look:\n```python\nprint(1)\n```", "*footer*"]
    assert reply.text == text


async def test_every_provider_down_is_one_line_and_cut_off_keeps_the_partial():
    channel = Channel()
    down = AllProvidersFailed([FailedAttempt("ollama", "llama3.2", StreamBroken("llm:ollama", "refused"))])
    outcome = await stream_answer(events(fail=down), make_reply(channel))
    assert outcome.status == "unavailable" and channel.shown == [UNAVAILABLE]

    channel = Channel()
    cut = AllProvidersFailed([], partial_text="Half an")
    outcome = await stream_answer(events(TextDelta("Half an"), fail=cut), make_reply(channel))
    assert outcome == type(outcome)("Half an", "failed")
    assert channel.shown == ["Half an\n\n" + CUT_OFF]


async def test_edits_are_paced_per_message_and_long_text_continues_in_new_messages():
    channel = Channel()
    loop = asyncio.get_running_loop()
    times: dict[int, list[float]] = {}
    original_edit = Sent.edit

    async def timed_edit(self: Sent, *, content: str, allowed_mentions: discord.AllowedMentions) -> None:
        times.setdefault(id(self), []).append(loop.time())
        await original_edit(self, content=content, allowed_mentions=allowed_mentions)

    reply = make_reply(channel, interval=0.1, limit=100)
    Sent.edit = timed_edit  # type: ignore[method-assign]
    try:
        words = [f"w{i:03d} " for i in range(60)]
        for word in words:
            reply.feed(word)
            await asyncio.sleep(0.005)
        await reply.finish()
    finally:
        Sent.edit = original_edit  # type: ignore[method-assign]
    assert "".join(channel.shown) == "".join(words)
    assert all(len(m) <= 100 for m in channel.shown) and len(channel.shown) >= 3
    assert sum(len(t) for t in times.values()) < 30  # far fewer edits than the 60 deltas
    gaps = [b - a for t in times.values() for a, b in itertools.pairwise(t)]
    assert not gaps or min(gaps) >= 0.09


@pytest.mark.parametrize("interval", [0.05])
async def test_cancellation_marks_the_answer_interrupted(interval: float):
    channel = Channel()
    gate = asyncio.Event()

    async def stalled() -> AsyncIterator[object]:
        yield TextDelta("Partial")
        await gate.wait()

    shown = asyncio.Event()
    send = channel.send

    async def send_and_signal(content: str) -> Sent:
        message = await send(content)
        shown.set()
        return message

    reply = StreamingReply(send_and_signal, send_and_signal, interval=interval)
    task = asyncio.create_task(stream_answer(stalled(), reply))
    async with asyncio.timeout(2):
        await shown.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert channel.shown[0].startswith("Partial\n\n*Interrupted")
    assert reply.text == "Partial"


class Gone(Sent):
    """A message someone deleted: every edit is answered 404 Unknown Message, as Discord does."""

    deleted = False

    async def edit(self, *, content: str, allowed_mentions: discord.AllowedMentions) -> None:
        if self.deleted:
            raise discord.NotFound(FakeResponse(404), {"code": 10008, "message": "Unknown Message"})
        await super().edit(content=content, allowed_mentions=allowed_mentions)


class FakeResponse:
    def __init__(self, status: int) -> None:
        self.status = status
        self.reason = "Not Found"


async def test_an_answer_deleted_while_streaming_stops_and_is_not_posted_again():
    sent: list[Gone] = []
    closed, posted = asyncio.Event(), asyncio.Event()

    async def send(content: str) -> Gone:
        message = Gone(content)
        sent.append(message)
        posted.set()
        return message

    async def model() -> AsyncIterator[object]:
        try:
            for i in range(50):
                await asyncio.sleep(0.01)
                yield TextDelta(f"word{i} ")
            yield result("never reached")
        finally:
            closed.set()  # the router stream is closed: the provider request ends

    reply = StreamingReply(send, send, interval=0.02)

    async def delete_soon() -> None:
        await posted.wait()
        sent[0].deleted = True

    deleting = asyncio.create_task(delete_soon())
    outcome = await asyncio.wait_for(stream_answer(model(), reply), 5)
    await deleting
    assert outcome.status == "deleted" and not outcome.worth_remembering
    assert closed.is_set() and "word49" not in outcome.text
    assert len(sent) == 1  # nothing was re-posted


async def test_a_limit_refusal_is_shown_and_not_remembered():
    from services.limits import QuotaExceeded

    async def refused() -> AsyncIterator[object]:
        raise QuotaExceeded("You have used your 20,000 tokens for today; resets at 00:00 UTC.")
        yield  # pragma: no cover

    channel = Channel()
    outcome = await stream_answer(refused(), make_reply(channel))
    assert outcome.status == "refused" and not outcome.worth_remembering
    assert channel.shown == ["You have used your 20,000 tokens for today; resets at 00:00 UTC."]


async def test_every_provider_busy_says_so_rather_than_unavailable():
    from discord_ui.stream import BUSY
    from services.llm.errors import ProviderBusy

    busy = AllProvidersFailed([FailedAttempt("ollama", "llama3.2", ProviderBusy("llm:ollama", "still number 9 in line"),
                                             skipped=True)])
    channel = Channel()
    outcome = await stream_answer(events(fail=busy), make_reply(channel))
    assert outcome.status == "unavailable" and channel.shown == [BUSY]
