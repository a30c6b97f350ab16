"""What the model sees for one prompt: the system prompt, then the newest turns that fit the budget.

Speakers are named on user turns (services.llm.base.render_content sends them as "Name: text"), so
the model can tell several people in one channel apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from services.chat.memory import ConversationStore, Turn, estimate_tokens
from services.llm import Message


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


class ContextBuilder:
    def __init__(self, store: ConversationStore, system_prompt: str, token_budget: int) -> None:
        self.store = store
        self.system_prompt = system_prompt
        self.token_budget = token_budget

    async def build(self, scope_id: int, prompt: Prompt) -> list[Message]:
        """The request for `prompt`; the prompt itself always goes in, history only as far as it fits."""
        used = estimate_tokens(self.system_prompt) + estimate_tokens(prompt.content) + estimate_tokens(prompt.author_name)
        history = await self.store.recent(scope_id, max(0, self.token_budget - used))
        while history and history[0].role == "assistant":
            history.pop(0)  # an answer whose question did not fit: some chat templates need user first
        messages = [Message("system", self.system_prompt)] if self.system_prompt else []
        messages += [to_message(turn) for turn in history]
        messages.append(Message("user", prompt.content, prompt.author_name))
        return messages

    async def remember(self, scope_id: int, prompt: Prompt, answer: str, status: str = "complete") -> None:
        """Store one exchange; an answer cut off keeps its text and says so in `status`."""
        await self.store.add(scope_id, Turn("user", prompt.content, prompt.author_name, prompt.author_id))
        if answer:
            await self.store.add(scope_id, Turn("assistant", answer, status=status))


def to_message(turn: Turn) -> Message:
    if turn.role == "user":
        return Message("user", turn.content, turn.author_name)
    return Message("assistant", turn.content)
