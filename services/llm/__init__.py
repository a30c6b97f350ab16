"""Chat with local and hosted models through one router with fallback (no discord import here).

Callers use `LLMRouter.stream(messages)` (TextDelta, ProviderSwitch, then ChatResult) or
`LLMRouter.chat(messages)`; everything fails as a typed error from services.llm.errors.
"""

from services.llm.base import Message, StreamEnd, TextDelta, Usage
from services.llm.errors import AllProvidersFailed, FailedAttempt
from services.llm.factory import build_router
from services.llm.router import ChatResult, LLMRouter, ProviderSwitch, RouterEvent
from services.llm.usage import UsageStore

__all__ = ["AllProvidersFailed", "ChatResult", "FailedAttempt", "LLMRouter", "Message", "ProviderSwitch",
           "RouterEvent", "StreamEnd", "TextDelta", "Usage", "UsageStore", "build_router"]
