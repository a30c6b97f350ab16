"""What the model sees for one prompt: the system prompt, then the newest turns that fit the budget.

Chat, /ask and voice all build their requests here, so the system prompt (CHAT_SYSTEM_PROMPT or its
file), the token budget and the history rules are the same everywhere; voice only adds a suffix
(`for_voice`). Speakers are named on user turns (services.llm.base.render_content sends them as
"Name: text"), so the model can tell several people in one channel apart.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path

from services.chat.memory import ConversationStore, Kind, MessageRef, Turn
from services.llm.base import Message, estimate_message_tokens

VOICE_SUFFIX = "You are talking in a voice call: answer in short spoken sentences, without markdown."


def load_system_prompt(prompt: str, prompt_file: str = "") -> str:
    """CHAT_SYSTEM_PROMPT_FILE wins over CHAT_SYSTEM_PROMPT when set (read once, at start-up)."""
    if prompt_file:
        return Path(prompt_file).read_text(encoding="utf-8").strip()
    return prompt


@dataclass(frozen=True)
class Prompt:
    """A new user message, before it is stored."""

    content: str
    author_name: str
    author_id: int
    sources: tuple[MessageRef, ...] = ()  # the Discord message(s) it came from: the member's, a transcript
    arrived_at: float | None = None  # its place in memory (services/chat/ordering.py); None: when stored

    def to_turn(self) -> Turn:
        return Turn("user", self.content, self.author_name, self.author_id, arrived_at=self.arrived_at)


@dataclass(frozen=True)
class ContextBuilder:
    store: ConversationStore
    system_prompt: str
    token_budget: int
    kind: Kind = "chat"  # voice memory is kept apart from the text chat of the same channel id

    def for_voice(self, suffix: str = VOICE_SUFFIX) -> ContextBuilder:
        """Voice's own memory, with the same prompt and budget and the spoken-answer instructions appended."""
        prompt = f"{self.system_prompt} {suffix}".strip()
        return replace(self, system_prompt=prompt, kind="voice")

    async def build(self, scope_id: int, prompt: Prompt, *, history: bool = True) -> list[Message]:
        """The request for `prompt`; the prompt itself always goes in, history only as far as it fits
        (none with history=False: a private answer in a channel neither reads nor joins its memory)."""
        system = [Message("system", self.system_prompt)] if self.system_prompt else []
        question = prompt.to_turn().to_message()
        used = sum(estimate_message_tokens(m) for m in (*system, question))
        turns = await self.store.recent(scope_id, max(0, self.token_budget - used), kind=self.kind) if history else []
        while turns and turns[0].role == "assistant":
            turns.pop(0)  # an answer whose question did not fit: some chat templates need user first
        return [*system, *(turn.to_message() for turn in turns), question]

    async def remember(self, scope_id: int, prompt: Prompt, answer: str, status: str = "complete", *,
                       shown_in: Iterable[MessageRef] = ()) -> int:
        """Store one exchange with the messages it came from and was shown in; an answer cut off keeps its
        text and says so in `status`. Returns the exchange id."""
        reply = Turn("assistant", answer, status=status) if answer else None
        return await self.store.add_exchange(scope_id, prompt.to_turn(), reply, kind=self.kind,
                                             messages=[*prompt.sources, *shown_in])

    async def remember_prompt(self, scope_id: int, prompt: Prompt) -> int:
        """The question alone, for callers that store it before the answer exists (voice); the exchange id."""
        return await self.store.add_exchange(scope_id, prompt.to_turn(), kind=self.kind, messages=prompt.sources)

    async def remember_answer(self, scope_id: int, answer: str, status: str = "complete", *,
                              exchange_id: int | None = None) -> None:
        if answer:
            await self.store.add(scope_id, Turn("assistant", answer, status=status), kind=self.kind,
                                 exchange_id=exchange_id)

    async def link(self, exchange_id: int, messages: Iterable[MessageRef]) -> None:
        await self.store.link(exchange_id, messages)
