"""Addressing rules for busy channels, and the order in which waiting members are answered."""

from __future__ import annotations

import asyncio

import pytest

from services.voice.addressing import Addressing
from services.voice.fair import FairTurns

NAME = Addressing("name", ("EmuBot",), "Jarvis")


@pytest.mark.parametrize("text", [
    "Jarvis, what time is it?", "Hey Jarvis what time is it", "What time is it, Jarvis?", "jarvis.",
    "EmuBot, tell me a joke.", "Tell me a joke, emubot!", "Okay Jarvus, lights off.", "Hey, Jarvis! Lights off.",
])
def test_name_mode_answers_turns_that_name_the_bot_at_the_start_or_end(text: str) -> None:
    assert NAME.addresses_bot(text)


@pytest.mark.parametrize("text", [
    "What time is it?", "I told Jarvis about it yesterday and he laughed.", "Did you see the game?", "",
    "Jar.", "Service, please.",
])
def test_name_mode_ignores_talk_between_members(text: str) -> None:
    assert not NAME.addresses_bot(text)


def test_wake_mode_needs_the_wake_word_first_and_always_answers_everything() -> None:
    wake = Addressing("wake", ("EmuBot",), "hey computer")
    assert wake.addresses_bot("Hey computer, lights off.") and wake.addresses_bot("hey, computer: lights off")
    assert not wake.addresses_bot("Lights off, hey computer.") and not wake.addresses_bot("EmuBot, lights off.")
    assert not Addressing("wake", ("EmuBot",), "").addresses_bot("EmuBot, lights off.")
    assert Addressing().addresses_bot("anything at all")


async def test_waiting_turns_are_served_member_by_member_each_in_order() -> None:
    turns = FairTurns()
    served: list[str] = []
    release = asyncio.Event()

    async def turn(member: int, label: str, hold: bool = False) -> None:
        async with turns.turn(member):
            served.append(label)
            if hold:
                await release.wait()

    first = asyncio.create_task(turn(1, "a1", hold=True))
    await asyncio.sleep(0)
    waiting = [asyncio.create_task(turn(m, label)) for m, label in ((1, "a2"), (1, "a3"), (2, "b1"), (3, "c1"),
                                                                  (2, "b2"))]
    await asyncio.sleep(0)
    assert turns.waiting == 5 and served == ["a1"]
    release.set()
    await asyncio.gather(first, *waiting)
    assert served == ["a1", "a2", "b1", "c1", "a3", "b2"]
    assert turns.waiting == 0


async def test_a_cancelled_waiter_does_not_block_the_others() -> None:
    turns = FairTurns()
    served: list[str] = []
    release = asyncio.Event()

    async def turn(member: int, label: str, hold: bool = False) -> None:
        async with turns.turn(member):
            served.append(label)
            if hold:
                await release.wait()

    first = asyncio.create_task(turn(1, "a1", hold=True))
    await asyncio.sleep(0)
    gone = asyncio.create_task(turn(2, "b1"))
    last = asyncio.create_task(turn(3, "c1"))
    await asyncio.sleep(0)
    gone.cancel()
    release.set()
    await asyncio.gather(first, last)
    assert served == ["a1", "c1"]
    async with asyncio.timeout(1):
        async with turns.turn(4):
            served.append("d1")
    assert served[-1] == "d1"
