"""The playground's model when no Ollama answers: a local server speaking Ollama's wire format (the same
server as the tests' FakeLLMServer) that streams back what it was asked, word by word, so chat,
streaming edits and /ask citations all work with no model installed.

    python -m devtools.fakes.echo_model        # prints OLLAMA_HOST and OLLAMA_MODEL to use; Ctrl-C stops
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from typing import Any

from devtools.fakes.llm_server import FakeLLMServer, Reply

ECHO_MODEL = "echo"
WORD_DELAY = 0.06  # seconds between streamed words: slow enough to watch the answer grow
MAX_ECHO_CHARS = 300


def echo_reply(body: dict[str, Any]) -> Reply:
    """Echo the newest user message; for /ask, also quote the first source with its [n] citation."""
    messages = body.get("messages") or []
    asked = next((str(m.get("content", "")) for m in reversed(messages) if m.get("role") == "user"), "")
    asked = " ".join(asked.split())
    if len(asked) > MAX_ECHO_CHARS:
        asked = asked[:MAX_ECHO_CHARS].rsplit(" ", 1)[0] + " …"
    speaker = re.match(r"([^:\n]{1,32}): (.+)", asked)  # the bot prefixes each member's turn with their name
    who = f"{speaker.group(1)}, you" if speaker else "You"
    asked = speaker.group(2) if speaker else asked
    text = f"(echo model, no LLM installed) {who} said: “{asked}”."
    system = next((str(m.get("content", "")) for m in messages if m.get("role") == "system"), "")
    source = re.search(r"^\[(\d+)\] (.+?) \(\S+\)\n(.+)$", system, re.M)
    if source:
        first_sentence = re.split(r"(?<=[.!?])\s", source.group(3).strip(), maxsplit=1)[0]
        text += f" The sources say: {first_sentence} [{source.group(1)}]"
    return Reply(text=text, token_delay=WORD_DELAY)


def echo_model() -> FakeLLMServer:
    """Not started yet: `async with echo_model() as server:` then OLLAMA_HOST=server.url, OLLAMA_MODEL=echo."""
    return FakeLLMServer(models=None, ollama_tags=(f"{ECHO_MODEL}:latest",), responder=echo_reply)


async def _serve() -> None:
    async with echo_model() as server:
        print(f"OLLAMA_HOST={server.url}\nOLLAMA_MODEL={ECHO_MODEL}", flush=True)
        await asyncio.Event().wait()


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve())
