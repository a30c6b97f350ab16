"""One chat turn below Discord: what /chat, mentions and voice hand over, made into the model's request,
answered with tools when the model may use them, and remembered without its thinking.

The cog (phase 2) turns a discord.Message into a `TurnRequest` (typed text, attachments as
`AttachmentRef`s, the channel and its parent for threads), calls `prepare`, shows `notices`, renders
the events of `answer` (TextDelta into the streamed reply, ReasoningDelta per CHAT_REASONING,
ToolStarted / ToolFinished as a status line, AnswerDone's effects as confirmations and its footer),
then calls `remember`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace

from config.settings import ModelRef
from services.chat.attachments import AttachmentReader, AttachmentRef, Attachments
from services.chat.context import ContextBuilder, Prompt
from services.chat.memory import MessageRef
from services.chat.profiles import ChatProfileStore
from services.limits.requester import Requester
from services.llm.base import Message
from services.llm.capabilities import ModelCapabilities
from services.tools import AnswerDone, LoopEvent, ToolContext, ToolLoop


@dataclass(frozen=True)
class TurnRequest:
    scope_id: int  # memory: the channel, thread or DM
    prompt: Prompt  # what the member typed (or said, in voice)
    guild_id: int | None
    channel_ids: tuple[int, ...]  # this channel, then its parent for a thread
    attachments: Sequence[AttachmentRef] = ()
    voice: bool = False
    history: bool = True  # False: a private (ephemeral) answer neither reads nor joins the channel's memory


@dataclass
class PreparedTurn:
    request: TurnRequest
    messages: list[Message]
    ctx: ToolContext
    tools: tuple[str, ...]  # the tools this model may call here (empty: none)
    model: ModelRef  # the first model of the effective chain, whose capabilities decided
    stored: Prompt  # what memory keeps of the member's turn
    notices: list[str] = field(default_factory=list)  # skipped files, cut files, unseen images
    chain: tuple[ModelRef, ...] = ()  # the effective provider:model chain (channel, server or default)


class ChatTurns:
    def __init__(self, *, context: ContextBuilder, voice_context: ContextBuilder, loop: ToolLoop,
                 attachments: AttachmentReader, capabilities: ModelCapabilities, profiles: ChatProfileStore) -> None:
        self._context = context
        self._voice_context = voice_context
        self.loop = loop
        self._attachments = attachments
        self.capabilities = capabilities
        self.profiles = profiles

    async def prepare(self, request: TurnRequest) -> PreparedTurn:
        persona = await self.profiles.persona(request.guild_id, request.channel_ids)
        chain = (await self.profiles.chain(request.guild_id, request.channel_ids)).value
        model = chain[0]
        vision = await self.capabilities.vision(*model)
        tools = tuple(self.loop.registry.names) if await self.capabilities.tools(*model) else ()
        read = await self._attachments.read(request.attachments, vision=vision) if request.attachments \
            else Attachments()
        typed = request.prompt
        stored = replace(typed, content=read.prompt(typed.content))
        base = self._voice_context if request.voice else self._context
        builder = replace(base, system_prompt=base.system_prompt.replace(self._context.system_prompt,
                                                                         persona.value, 1))
        messages = await builder.build(request.scope_id, stored, history=request.history)
        if read.images:
            messages[-1] = replace(messages[-1], images=tuple(read.images))
        ctx = ToolContext(member_id=typed.author_id, member_name=typed.author_name, guild_id=request.guild_id,
                          # a private answer's reminders go by DM, as /remind's do where the member may not post
                          channel_id=request.channel_ids[0] if request.channel_ids and request.history else None,
                          member_words=read.member_words(typed.content))
        return PreparedTurn(request, messages, ctx, tools, model, stored, read.notices, chain)

    def answer(self, turn: PreparedTurn, *, admit_round: Callable[[int], Awaitable[None]] | None = None,
               requester: Requester | None = None) -> AsyncIterator[LoopEvent]:
        """The loop's events; each round goes through the router with the member (quota, fair line) and the
        effective chain (a channel's or server's /model)."""
        return self.loop.run(turn.messages, turn.ctx, allowed=turn.tools, admit_round=admit_round,
                             requester=requester, chain=turn.chain or None)

    async def remember(self, turn: PreparedTurn, done: AnswerDone | None, *, partial: str = "",
                       status: str = "complete", shown_in: Iterable[MessageRef] = ()) -> int | None:
        """The member's turn (files and transcripts included) and the answer's text: never its thinking,
        never tool results (the answer cites what it used). Nothing for a private turn; else the exchange id."""
        if not turn.request.history:
            return None
        builder = self._voice_context if turn.request.voice else self._context
        return await builder.remember(turn.request.scope_id, turn.stored, done.text if done else partial, status,
                                      shown_in=shown_in)

    async def link(self, exchange_id: int, messages: Iterable[MessageRef]) -> None:
        """Messages the answer was shown in after it was stored (deleting one erases the exchange)."""
        await self._context.link(exchange_id, messages)
