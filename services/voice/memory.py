"""Which conversation memory a voice call uses (/voice memory, a per-server choice).

"separate" (the default): the call's own memory, kind "voice" of the voice channel, which no text
chat reads. "shared": kind "chat" of the text channel the call writes in (its own text chat, or the
linked channel while everyone in the call can read it), so /chat typed there and the call continue
one conversation, through the same ContextBuilder; erasing works as for any exchange (sources).
"""

from __future__ import annotations

from dataclasses import replace

from services.chat.context import ContextBuilder

DEFAULT_MEMORY = "separate"


def voice_memory(context: ContextBuilder, memory: str) -> ContextBuilder:
    """The voice context (its prompt and budget) reading and writing the memory kind `memory` picks."""
    kind = "chat" if memory == "shared" else "voice"
    return context if context.kind == kind else replace(context, kind=kind)


def voice_memory_scope(*, call_id: int, chat_id: int, memory: str) -> int:
    """The scope the call's turns are kept under: the text chat's for "shared", the call's own otherwise."""
    return chat_id if memory == "shared" else call_id
