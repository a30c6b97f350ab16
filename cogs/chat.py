"""/chat, /reset, and answers to mentions, replies, DMs and chat channels, streamed with memory.

Prompts of one channel (thread, DM) are answered concurrently, up to CHAT_CHANNEL_CONCURRENCY; one
member's own prompts and a reply chain stay in order, and memory keeps exchanges in arrival order
(services/chat/ordering.py). Each answer replies to its own prompt; a prompt that waits says where
it stands (discord_ui/notice.py). The answer is rendered by discord_ui.stream.stream_answer, shared
with /ask.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable
from typing import TypeVar

import discord
from discord import app_commands
from discord.ext import commands

from bot import Bot
from discord_ui.notice import InteractionNotice, MessageNotice, ThreadNotice
from discord_ui.permissions import answers_publicly
from discord_ui.prune import pruning_loop
from discord_ui.stream import StreamingReply, stream_answer
from discord_ui.turns import TurnView, channel_ids, refs, thread_name
from discord_ui.ui import NO_MENTIONS, reply
from services.chat.context import Prompt
from services.chat.memory import MessageRef
from services.chat.ordering import Ticket
from services.chat.turn import TurnRequest
from services.limits import LimitReached

log = logging.getLogger(__name__)

M = TypeVar("M", bound=discord.Message)
TOO_LATE = "Too many prompts are waiting here and I could not get to yours in time. Please ask again."
DMS_OFF = "Direct messages are switched off on this bot; use /chat in a server."


def _shown(stream: StreamingReply) -> list[MessageRef]:
    """The messages an answer was shown in (deleting any of them erases the exchange from memory)."""
    return [MessageRef(m.channel.id, m.id) for m in stream.messages if isinstance(m, discord.Message)]


def scope_of(channel_id: int) -> int:
    """Memory scope: the channel id, which is the thread's id in threads and the DM channel's in DMs."""
    return channel_id


class Chat(commands.Cog):
    def __init__(self, bot: Bot) -> None:
        self.bot = bot
        settings = bot.settings
        self.settings = settings
        self.store = bot.services.conversations
        self.order = bot.services.chat_order
        self.limits = bot.services.limits
        self.answering: set[asyncio.Task[object]] = set()
        coordinator = bot.services.coordinator
        self.prune_history = pruning_loop("chat turns", settings.chat_history_days,
                                          lambda: self.store.prune(settings.chat_history_days),
                                          leader=lambda: coordinator.is_leader)

    async def cog_load(self) -> None:
        self.prune_history.start()

    async def cog_unload(self) -> None:
        """Shutdown: answers in progress are marked interrupted (in chat and in memory), then stop."""
        self.prune_history.cancel()
        tasks_left = [t for t in self.answering if not t.done()]
        for task in tasks_left:
            task.cancel()
        if tasks_left:
            await asyncio.wait(tasks_left, timeout=10)

    # --- gates shared by every trigger ----------------------------------------------------------

    def _refusal(self, text: str) -> str | None:
        """Why this prompt is not answered as typed, or None."""
        if not text.strip():
            return "Say something and I'll answer."
        limit = self.settings.chat_max_prompt_chars
        if len(text) > limit:
            return f"That prompt is too long ({len(text)} characters; the limit is {limit})."
        return None

    async def _answer(self, request: TurnRequest, ticket: Ticket, stream: StreamingReply,
                      notice: InteractionNotice | MessageNotice) -> None:
        """Wait for the ticket's turn, prepare the turn (persona, model chain, attachments, memory), stream
        the answer with its tools; the exchange is remembered (also when cut off) before its final text is
        shown and before the member's next prompt starts, with the messages it came from and was shown in.
        A private (ephemeral) answer neither reads nor joins the channel's memory."""
        requester = notice.requester()
        turns = self.bot.services.chat_turns
        try:
            try:
                await ticket.enter(timeout=requester.remaining(self.settings.queue_max_wait), on_wait=notice.queued)
            except TimeoutError:
                await stream.finish(TOO_LATE)
                return
            if request.attachments:
                stream.status("-# 📎 Reading your attachments…")
            turn = await turns.prepare(request)
            view = TurnView(self.settings.chat_reasoning, turn.notices)
            exchange: int | None = None
            remembered = False

            async def remember(text: str, status: str) -> None:
                nonlocal remembered, exchange
                remembered = True
                exchange = await turns.remember(turn, None, partial=text, status=status, shown_in=_shown(stream))
                ticket.leave()  # the model is done and memory written: the next prompt may go while this shows

            async def admit_round(_round: int) -> None:  # a tool round is one more costly request
                if (refusal := await self.limits.admit(requester.member_id, requester.guild_id, model=True)):
                    raise LimitReached(refusal)

            try:
                await stream_answer(view.events(turns.answer(turn, admit_round=admit_round, requester=requester),
                                                stream), stream, footer=view.footer, remember=remember)
            except asyncio.CancelledError:
                if not remembered:
                    await turns.remember(turn, None, partial=stream.text, status="interrupted",
                                         shown_in=_shown(stream))
                raise
            if exchange is not None:  # messages the final text (continuations, a note) added after it was stored
                await turns.link(exchange, _shown(stream))
        finally:
            ticket.leave()
            await notice.close()

    def _linked(self, ticket: Ticket, send: Callable[[str], Awaitable[M]]) -> Callable[[str], Awaitable[M]]:
        """Messages of the answer join the ticket's reply chain: a reply to one waits for the answer."""
        async def linked(content: str) -> M:
            message = await send(content)
            self.order.link(ticket, message.id)
            return message
        return linked

    def _track(self) -> None:
        task = asyncio.current_task()
        if task is not None:
            self.answering.add(task)
            task.add_done_callback(self.answering.discard)

    # --- /chat and /reset ------------------------------------------------------------------------

    @app_commands.command(name="chat", description="Talk with the bot's language model")
    @app_commands.describe(prompt="What you want to say",
                           attachment="An image, a text or code file, or a voice message for the model")
    async def chat(self, interaction: discord.Interaction, prompt: str,
                   attachment: discord.Attachment | None = None) -> None:
        if interaction.guild is None and not self.settings.chat_allow_dms:
            await reply(interaction, DMS_OFF, ephemeral=True)
            return
        scope = scope_of(interaction.channel_id or interaction.user.id)
        if (refusal := self._refusal(prompt)) is not None:
            await reply(interaction, refusal, ephemeral=True)
            return
        ticket = self.order.arrive(scope, interaction.user.id)  # before any await: arrival order
        try:
            if (refusal := await self.limits.admit(interaction.user.id, interaction.guild_id, model=True)) is not None:
                ticket.leave()
                await reply(interaction, refusal, ephemeral=True)
                return
            private = not answers_publicly(interaction)  # the member may not post here: only they see the answer
            await interaction.response.defer(thinking=True, ephemeral=private)
        except BaseException:
            ticket.leave()
            raise
        self._track()

        async def send(content: str) -> discord.WebhookMessage:
            return await interaction.followup.send(content, wait=True, allowed_mentions=NO_MENTIONS, ephemeral=private,
                                                   suppress_embeds=True)

        notice = InteractionNotice(interaction, ephemeral=private)
        stream = StreamingReply(self._linked(ticket, notice.send_first), self._linked(ticket, send),
                                interval=self.settings.chat_stream_edit_interval)
        user = interaction.user
        request = TurnRequest(scope, Prompt(prompt, user.display_name, user.id, arrived_at=ticket.arrived_at),
                              interaction.guild_id, channel_ids(interaction.channel, interaction.channel_id),
                              refs([attachment] if attachment else []), history=not private)
        await self._answer(request, ticket, stream, notice)

    @app_commands.command(name="reset", description="Make the bot forget this channel's conversation")
    async def reset(self, interaction: discord.Interaction) -> None:
        if interaction.guild is not None and not interaction.permissions.manage_messages:
            await reply(interaction, "Only members with Manage Messages can reset this channel's memory.",
                        ephemeral=True)
            return
        scope = scope_of(interaction.channel_id or interaction.user.id)
        # After the answers already arrived (they are forgotten too); prompts after it wait for it.
        turn = self.order.arrive(scope, interaction.user.id, barrier=True)
        if self.order.in_flight(scope) > 1:  # an answer is still streaming: acknowledge within 3 s
            try:
                await interaction.response.defer()
            except BaseException:
                turn.leave()
                raise
        async with turn:
            removed = await self.store.clear(scope)
        log.info("Chat memory of %s reset by %s (%d turns)", scope, interaction.user.id, removed)
        await reply(interaction, "Done: I forgot this channel's conversation.")

    # --- mentions, replies, DMs, chat channels ---------------------------------------------------

    @commands.Cog.listener()
    async def on_message(self, message: discord.Message) -> None:
        if message.author.bot or self.bot.user is None or message.webhook_id is not None:
            return
        if message.guild is not None and not self.bot.serves(message.guild.id):
            return  # ALLOWED_GUILD_IDS: a server the bot is leaving
        if not await self._addressed(message):
            return
        text = self._prompt_text(message)
        attached = refs([*message.attachments, *self._replied_attachments(message)])
        if not text and not attached and self.bot.user not in message.mentions:
            return  # an empty message in a chat channel or DM: nothing to answer
        if (refusal := self._refusal(text or ("(attachment)" if attached else ""))) is not None:
            await message.reply(refusal, mention_author=False, allowed_mentions=NO_MENTIONS)
            return
        scope = scope_of(message.channel.id)
        replied = message.reference.message_id if message.reference is not None else None
        threaded = self._opens_thread(message)  # CHAT_AUTO_THREAD: the answer goes in a new thread
        ticket = None if threaded else self.order.arrive(scope, message.author.id, message_id=message.id,
                                                          replies_to=replied)
        try:
            if (refusal := await self.limits.admit(message.author.id, message.guild.id if message.guild else None,
                                                   model=True)) is not None:
                if ticket is not None:
                    ticket.leave()
                await message.reply(refusal, mention_author=False, allowed_mentions=NO_MENTIONS)
                return
        except BaseException:
            if ticket is not None:
                ticket.leave()
            raise
        channel: discord.abc.MessageableChannel = message.channel
        notice = MessageNotice(message)
        if ticket is None:
            try:
                channel = await message.create_thread(name=thread_name(text, message.author.display_name),
                                                      auto_archive_duration=1440)
                notice = ThreadNotice(message, channel)
            except discord.HTTPException as exc:  # answered in the channel instead
                log.info("Could not open a thread for message %s: %s", message.id, exc)
            scope = scope_of(channel.id)  # memory per thread
            ticket = self.order.arrive(scope, message.author.id, message_id=message.id, replies_to=replied)
        self._track()
        typing = channel.typing()
        await typing.__aenter__()
        stopped = False

        async def send_first(content: str) -> discord.Message:
            nonlocal stopped
            if not stopped:
                stopped = True
                await typing.__aexit__(None, None, None)
            return await notice.send_first(content)

        async def send_next(content: str) -> discord.Message:
            return await channel.send(content, allowed_mentions=NO_MENTIONS, suppress_embeds=True)

        stream = StreamingReply(self._linked(ticket, send_first), self._linked(ticket, send_next),
                                interval=self.settings.chat_stream_edit_interval)
        source = (MessageRef(message.channel.id, message.id),)  # deleting it erases the exchange
        prompt = Prompt(text, message.author.display_name, message.author.id, source, arrived_at=ticket.arrived_at)
        request = TurnRequest(scope, prompt, message.guild.id if message.guild else None,
                              channel_ids(channel, channel.id), attached)
        try:
            await self._answer(request, ticket, stream, notice)
        except discord.HTTPException as exc:  # e.g. no permission to post here: nobody to tell but the log
            log.warning("Could not answer message %s in channel %s: %s", message.id, scope, exc)
        finally:
            if not stopped:
                await typing.__aexit__(None, None, None)

    def _opens_thread(self, message: discord.Message) -> bool:
        """CHAT_AUTO_THREAD, a mention in a server's text channel, and both the member and the bot may
        create public threads there and post in them."""
        if not self.settings.chat_auto_thread or message.guild is None or self.bot.user not in message.mentions:
            return False
        channel, member = message.channel, message.author
        if not isinstance(channel, discord.TextChannel) or not isinstance(member, discord.Member):
            return False
        theirs, ours = channel.permissions_for(member), channel.permissions_for(message.guild.me)
        return all(p.create_public_threads and p.send_messages_in_threads for p in (theirs, ours))

    def _replied_attachments(self, message: discord.Message) -> list[discord.Attachment]:
        """The attachments of the message this one replies to (an image someone posted: "what is this?")."""
        ref = message.reference
        if ref is None or ref.message_id is None:
            return []
        replied = ref.resolved if isinstance(ref.resolved, discord.Message) \
            else self.bot._connection._get_message(ref.message_id)
        return list(replied.attachments) if isinstance(replied, discord.Message) else []

    async def _addressed(self, message: discord.Message) -> bool:
        """A DM (when allowed), a mention, a reply to the bot, or any message in a chat channel."""
        assert self.bot.user is not None
        if message.guild is None:
            return self.settings.chat_allow_dms
        if self.bot.user in message.mentions:
            return True
        if self.settings.chat_auto_thread and getattr(message.channel, "owner_id", None) == self.bot.user.id:
            return True  # a thread the bot opened for a conversation: every message there is for it
        channels = self.settings.chat_channel_ids
        if message.channel.id in channels or getattr(message.channel, "parent_id", None) in channels:
            return True
        ref = message.reference
        if ref is None or ref.message_id is None:
            return False
        replied = ref.resolved if isinstance(ref.resolved, discord.Message) else self.bot._connection._get_message(ref.message_id)
        if replied is None:
            try:
                replied = await message.channel.fetch_message(ref.message_id)
            except discord.HTTPException:
                return False
        return replied.author.id == self.bot.user.id

    def _prompt_text(self, message: discord.Message) -> str:
        """The text without the bot's own mention; other mentions become readable names."""
        assert self.bot.user is not None
        text = re.sub(rf"<@!?{self.bot.user.id}>", "", message.content)
        for user in message.mentions:
            name = f"@{user.display_name}"  # passed as a function: a name like C:\Users is no template
            text = re.sub(rf"<@!?{user.id}>", lambda _, name=name: name, text)
        for role in message.role_mentions:
            text = text.replace(f"<@&{role.id}>", f"@{role.name}")
        return text.strip()


async def setup(bot: Bot) -> None:
    await bot.add_cog(Chat(bot))
