"""What the model sees for one prompt: the system prompt, then the newest turns that fit the budget.

Chat, /ask and voice all build their requests here, so the system prompt (CHAT_SYSTEM_PROMPT or its
file), the token budget and the history rules are the same everywhere; voice only adds a suffix
(`for_voice`). Speakers are named on user turns (services.llm.base.render_content sends them as
"Name: text"), so the model can tell several people in one channel apart.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from services.chat.memory import ConversationStore, Turn
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
    arrived_at: float | None = None  # its place in memory (services/chat/ordering.py); None: when stored

    def to_turn(self) -> Turn:
        return Turn("user", self.content, self.author_name, self.author_id, arrived_at=self.arrived_at)


@dataclass(frozen=True)
class ContextBuilder:
    store: ConversationStore
    system_prompt: str
    token_budget: int

    def for_voice(self, suffix: str = VOICE_SUFFIX) -> ContextBuilder:
        """The same memory, prompt and budget, with the spoken-answer instructions appended."""
        prompt = f"{self.system_prompt} {suffix}".strip()
        return replace(self, system_prompt=prompt)

    async def build(self, scope_id: int, prompt: Prompt) -> list[Message]:
        """The request for `prompt`; the prompt itself always goes in, history only as far as it fits."""
        system = [Message("system", self.system_prompt)] if self.system_prompt else []
        question = prompt.to_turn().to_message()
        used = sum(estimate_message_tokens(m) for m in (*system, question))
        history = await self.store.recent(scope_id, max(0, self.token_budget - used))
        while history and history[0].role == "assistant":
            history.pop(0)  # an answer whose question did not fit: some chat templates need user first
        return [*system, *(turn.to_message() for turn in history), question]

    async def remember(self, scope_id: int, prompt: Prompt, answer: str, status: str = "complete") -> None:
        """Store one exchange, at its prompt's place; an answer cut off keeps its text and says so in `status`."""
        await self.remember_prompt(scope_id, prompt)
        if answer:
            await self.store.add(scope_id, Turn("assistant", answer, status=status, arrived_at=prompt.arrived_at))

    async def remember_prompt(self, scope_id: int, prompt: Prompt) -> None:
        """The question alone, for callers that store it before the answer exists (voice)."""
        await self.store.add(scope_id, prompt.to_turn())

    async def remember_answer(self, scope_id: int, answer: str, status: str = "complete") -> None:
        if answer:
            await self.store.add(scope_id, Turn("assistant", answer, status=status))
