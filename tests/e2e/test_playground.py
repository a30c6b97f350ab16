"""The playground as a person uses it: every example its help and the README give, typed through the
console into the local Discord, answered by the real `python main.py` (echo model, offline search)."""

from __future__ import annotations

import asyncio
import io
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from devtools.discord_emulator.render import UP_AND_CLEAR
from devtools.fakes.llm_server import refused_url
from devtools.playground import EXAMPLES, Model, Playground

ROOT = Path(__file__).resolve().parents[2]

# What a sensible answer to each example looks like, as printed (tests/e2e fails when an example lacks one).
EXPECTED = {
    "hello, who are you?": r"#general EmuBot: \(echo model[^\n]*Alice, you said: “hello, who are you\?”",
    "#random @bot what is a haiku?": r"#random EmuBot: [^\n]*you said: “what is a haiku\?”",
    "/chat prompt:tell me a joke": r"#general EmuBot: [^\n]*you said: “tell me a joke”",
    "/wiki Python": r"┃ \*\*Python \(programming language\)\*\*[^\n]*\n  ┃ Python is a high-level",
    "/wiki Mercury": r"may refer to:\n  ┃ • Mercury \(element\)\n  ┃ • Mercury \(planet\)",
    "/ask what is Ollama?": r"The sources say: Ollama is an open-source tool[^\n]*\[1\]\n(.*\n)*  1\. \[Ollama\]",
    "/search discord servers": r"┃ \*\*Results for discord servers\*\*\n  ┃ \*\*1\. \[Discord\]",
    "/remind when:in 1 minute what:stretch": r"Reminder #\d+ set for [^\n]*UTC \(in (\d+ seconds|1 minute)\)\.\n  > stretch",
    "/reminders": r"┃ \*\*#\d+\*\* · [^\n]* · in #general\n  ┃ > stretch",
    "/timezone zone:Europe/Paris": r"Your time zone is now Europe/Paris",
    "/health": r"┃ 🟢 \*\*llm:ollama\*\* healthy[^\n]*\(models ok: echo\)(.*\n)*  ┃ ⚪ \*\*tts:kokoro\*\* disabled",
    "#nsfw /urban yeet": r"#nsfw EmuBot:\n  ┃ \*\*yeet\*\*[^\n]*\n  ┃ To throw something",
    "dm hi there": r"dm EmuBot: [^\n]*you said: “hi there”",
}


@pytest.fixture
async def playground(tmp_path: Path) -> AsyncIterator[tuple[Playground, io.StringIO]]:
    out = io.StringIO()
    async with Playground(tmp_path, out, tty=False, ollama_host=refused_url(), settle=0.8) as running:
        yield running, out


async def answer_to(playground: Playground, out: io.StringIO, line: str, pattern: str, timeout: float = 20) -> str:
    assert playground.console is not None
    start = len(out.getvalue())
    assert await playground.console.handle(line)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not re.search(pattern, out.getvalue()[start:]):
        if loop.time() > deadline:
            raise AssertionError(f"{line!r}: no answer matching {pattern!r}; printed:\n{out.getvalue()[start:]}")
        await asyncio.sleep(0.1)
    return out.getvalue()[start:]


def readme_examples() -> list[str]:
    """The lines typed in the README's playground session (the block that starts scripts/playground.sh)."""
    text = (ROOT / "README.md").read_text()
    block = re.search(r"```text\nscripts/playground\.sh[^\n]*\n(.*?)```", text, re.S)
    assert block, "README has no playground session"
    return [line.strip() for line in block.group(1).splitlines() if line.strip()]


def test_every_example_has_an_expected_answer_and_the_readme_uses_only_examples():
    assert [e.line for e in EXAMPLES] == list(EXPECTED)
    lines = readme_examples()
    assert lines and set(lines) <= set(EXPECTED) | {"help", "members"}, lines


async def test_every_documented_example_gets_a_sensible_answer(playground) -> None:
    running, out = playground
    assert running.model is not None and running.model.echo
    help_text = await answer_to(running, out, "help", r"quit")
    for example in EXAMPLES:
        assert example.line in help_text and example.what in help_text
    assert "echo model" in help_text and "Offline" in help_text
    members = await answer_to(running, out, "members", r"otherbot")
    assert re.search(r"alice +owner, Admin, you", members) and re.search(r"bob +Moderator", members)
    for line in EXPECTED:  # in order: /reminders lists what /remind set
        await answer_to(running, out, line, EXPECTED[line])
    assert running.bot is not None and "Traceback" not in running.bot.output


async def test_mistakes_get_a_line_not_a_crash(playground) -> None:
    running, out = playground
    assert "! /wiki needs the required option(s) ['query']" in await answer_to(running, out, "/wiki", r"! ")
    assert "no command /weather" in await answer_to(running, out, "/weather today", r"! ")
    assert "has no member 'nobody'" in await answer_to(running, out, "nobody #general hi", r"! ")
    assert "cannot see /health" in await answer_to(running, out, "bob #general /health", r"! ")
    assert "You are now bob." in await answer_to(running, out, "as bob", r"bob")
    assert await answer_to(running, out, "in #random", r"You are now in #random\.")
    assert running.console is not None and not await running.console.handle("quit")


async def test_a_streamed_answer_is_redrawn_in_place_on_a_terminal(tmp_path: Path) -> None:
    out = io.StringIO()
    async with Playground(tmp_path, out, tty=True, ollama_host=refused_url()) as running:
        assert running.renderer is not None
        running.renderer.width = 200
        final = await answer_to(running, out, "please tell me a rather long story about the moon and the sea",
                                r"“please tell me a rather long story about the moon and the sea”\.\n")
    assert UP_AND_CLEAR.format(rows=1) in final, "the growing answer was reprinted instead of redrawn"
    assert final.count("(echo model") >= 2 and "(edited)" not in final


async def test_a_running_ollama_with_a_model_is_used_instead_of_the_echo_model() -> None:
    from devtools.fakes.llm_server import FakeLLMServer
    from devtools.playground import find_ollama

    async with FakeLLMServer() as ollama:  # lists llama3.2:latest and llama3.2:1b, as /api/tags does
        assert (await find_ollama(ollama.url, "llama3.2")) == Model(ollama.url, "llama3.2:latest", echo=False)
        assert (await find_ollama(ollama.url, "llama3.2:1b")).name == "llama3.2:1b"
        assert (await find_ollama(ollama.url, "mistral")).name in ("llama3.2:latest", "llama3.2:1b")
    async with FakeLLMServer(ollama_tags=()) as empty:
        assert await find_ollama(empty.url, "llama3.2") is None, "an Ollama without a model cannot answer"
    assert await find_ollama(refused_url(), "llama3.2") is None
