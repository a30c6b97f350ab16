"""Mixed member traffic for the load, fault and soak runs: fire prompts, then prove each was answered.

Every prompt carries a unique token; the fake LLM, SearXNG and Wikipedia answer with that token, so
an answer that shows the right token on the right interaction (or as a reply to the right message in
the right channel) went to the right person. A reminder's delivery must appear exactly once. A
"⏳ waiting in line" notice is not an answer: the prompt is settled when the notice is replaced.
"""

from __future__ import annotations

import itertools
import re
import time
from dataclasses import dataclass, field
from typing import Any

from devtools.discord_emulator import DiscordEmulator
from devtools.fakes.llm_server import FakeLLMServer, Reply
from devtools.fakes.search_servers import FakeSearchServers, searxng_result

KINDS = ("chat", "ask", "search", "wiki", "remind", "mention")
WAITING = "⏳"  # how a waiting notice starts (discord_ui/notice.py)
TOKEN = re.compile(r"\btok\d+\b")
# What a user is told when a prompt could not be answered: honest, never silent (see discord_ui/errors.py, _stream.py).
TOLD_WHY_NOT = re.compile(r"unavailable|could not|couldn't|not available|try again|interrupted|failed|error|"
                          r"busy|did not answer|rate-limit|cut off|incomplete",
                          re.IGNORECASE)


def llm_echo(tail: str = "") -> Any:
    """An LLM responder answering `Answer for tokN.` to the prompt that carries tokN (the last user turn)."""

    def respond(body: Any) -> Reply:
        last = next(m["content"] for m in reversed(body["messages"]) if m["role"] == "user")
        tokens = TOKEN.findall(last)
        return Reply(text=f"Answer for {tokens[-1] if tokens else 'nothing'}.{tail}", token_delay=0.005)

    return respond


@dataclass
class Sent:
    """One prompt in flight: what was asked, by whom, where, and how it ended."""

    kind: str
    token: str
    member: Any
    channel: Any
    inter: Any = None
    message: Any = None
    sent_at: float = 0.0
    outcome: str = "pending"  # answered | told | lost
    detail: str = ""
    settled_at: float | None = None  # time.monotonic() when the final answer (or why not) was first seen
    queued: bool = False  # a waiting notice was shown


@dataclass
class Traffic:
    emu: DiscordEmulator
    llm: FakeLLMServer
    search: FakeSearchServers
    remind_in: float = 4.0
    sent: list[Sent] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._counter = itertools.count(1)
        self.llm.responder = llm_echo()

    def _token(self) -> str:
        token = f"tok{next(self._counter)}"
        self.search.searxng_answers[f"find {token}"] = {"results": [
            searxng_result(f"Result about {token}", f"https://example.org/{token}", f"All about {token}.")]}
        self.search.add_wiki_page(f"Topic {token}", f"Topic {token} is an article about {token}.")
        return token

    async def fire(self, kind: str, member: Any, channel: Any) -> Sent:
        """Send one prompt of `kind` as `member` in `channel`; returns at once (answers arrive later)."""
        token = self._token()
        item = Sent(kind, token, member, channel, sent_at=time.monotonic())
        self.sent.append(item)
        if kind == "mention":
            item.message = await self.emu.send_message(member, channel, f"tell me about {token}", mentions_bot=True)
        elif kind == "chat":
            item.inter = await self.emu.invoke(member, channel, "chat", prompt=f"what is {token}")
        elif kind == "ask":
            item.inter = await self.emu.invoke(member, channel, "ask", question=f"question {token}")
        elif kind == "search":
            item.inter = await self.emu.invoke(member, channel, "search", query=f"find {token}")
        elif kind == "wiki":
            item.inter = await self.emu.invoke(member, channel, "wiki", query=f"Topic {token}")
        elif kind == "remind":
            item.inter = await self.emu.invoke(member, channel, "remind", when=f"in {self.remind_in:g}s",
                                               what=f"ping {token}")
        else:
            raise ValueError(kind)
        return item

    def _answer_of_mention(self, item: Sent) -> Any:
        for m in self.emu.bot_messages(item.channel):
            ref = m.reference or {}
            if str(ref.get("message_id")) == str(item.message.id):
                return m
        return None

    def _judge(self, item: Sent, text: str) -> bool:
        """True once the text is final: the right prompt's answer, or an honest "why not"."""
        if text.startswith(WAITING):
            item.queued = True
            return False
        done = self._final(item, text)
        if done and item.settled_at is None:
            item.settled_at = time.monotonic()
        return done

    def _final(self, item: Sent, text: str) -> bool:
        wrong = [t for t in re.findall(r"Answer for (tok\d+)", text) if t != item.token]
        if wrong:
            item.outcome, item.detail = "lost", f"the answer to {wrong} was given for {item.token}: {text[:200]!r}"
            return True
        if item.kind in ("chat", "ask", "mention"):
            done = f"Answer for {item.token}." in text
        else:
            done = item.token in TOKEN.findall(text)
        if done:
            item.outcome, item.detail = "answered", ""
            return True
        if TOLD_WHY_NOT.search(text):
            item.outcome, item.detail = "told", text[:200]
            return True
        return False

    async def settle(self, item: Sent, timeout: float) -> Sent:
        """Wait until the prompt is answered or its user is told why not; else it counts as lost."""
        try:
            if item.kind == "mention":
                await self.emu.wait_until(lambda: (m := self._answer_of_mention(item)) is not None
                                          and self._judge(item, m.content), timeout=timeout,
                                          message=f"the answer to {item.token}")
            else:
                await item.inter.wait_done(timeout=timeout)
                await self.emu.wait_until(lambda: self._judge(item, item.inter.result().text), timeout=timeout,
                                          message=f"the final answer to {item.token}")
        except AssertionError as exc:
            item.outcome, item.detail = "lost", str(exc)[:300]
        return item

    def reminder_deliveries(self, token: str) -> list[Any]:
        """The reminder's deliveries (the "⏰ <@owner> ..." messages), not its confirmation."""
        return [m for m in self.emu.records.messages.values() if m.content.startswith("⏰")
                and not m.content.startswith("⏰ Reminder #") and re.search(rf"\bping {token}\b", m.content)]
