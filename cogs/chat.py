"""/chat, /reset, and answers to mentions, replies, DMs and chat channels, streamed with memory.

Prompts of one channel (thread, DM) are answered one at a time in arrival order; channels run in
parallel. The answer is rendered by discord_ui.stream.stream_answer, shared with /ask.
"""

from __future__ import annotations

import asyncio
import logging
import math
import re

import discord
from discord import app_commands
from discord.ext import commands

from bot import Bot
from discord_ui.prune import pruning_loop
from discord_ui.stream import StreamingReply, stream_answer
from discord_ui.ui import NO_MENTIONS, reply
from services.chat.context import Prompt
from services.chat.cooldown import Cooldown
from services.chat.ordering import KeyedQueue

log = logging.getLogger(__name__)


def scope_of(channel_id: int) -> int:
    """Memory scope: the channel id, which is the thread's id in threads and the DM channel's in DMs."""
    return channel_id


class Chat(commands.Cog):
    def __init__(self, bot: Bot) -> None:
        self.bot = bot
        settings = bot.settings
        self.settings = settings
        self.store = bot.services.conversations
        self.context = bot.services.chat_context
        self.queue = KeyedQueue()
        self.cooldown = Cooldown(settings.chat_user_cooldown)
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

    def _refusal(self, user_id: int, text: str) -> str | None:
        """Why this prompt is not answered, or None; starts the user's cooldown when it is."""
        if not text.strip():
            return "Say something and I'll answer."
        limit = self.settings.chat_max_prompt_chars
        if len(text) > limit:
            return f"That prompt is too long ({len(text)} characters; the limit is {limit})."
        left = self.cooldown.try_acquire(user_id)
        if left > 0:
            return f"Slow down: you can chat again in {math.ceil(left)} s."
        return None

    async def _answer(self, scope: int, prompt: Prompt, stream: StreamingReply) -> None:
        """Build the context, stream the answer, remember the exchange (also when cut off)."""
        messages = await self.context.build(scope, prompt)
        try:
            outcome = await stream_answer(self.bot.services.llm.stream(messages), stream)
        except asyncio.CancelledError:
            await self.context.remember(scope, prompt, stream.text, "interrupted")
            raise
        if outcome.status != "unavailable":
            await self.context.remember(scope, prompt, outcome.text, outcome.status)

    def _track(self) -> None:
        task = asyncio.current_task()
        if task is not None:
            self.answering.add(task)
            task.add_done_callback(self.answering.discard)

    # --- /chat and /reset ------------------------------------------------------------------------

    @app_commands.command(name="chat", description="Talk with the bot's language model")
    @app_commands.describe(prompt="What you want to say")
    async def chat(self, interaction: discord.Interaction, prompt: str) -> None:
        scope = scope_of(interaction.channel_id or interaction.user.id)
        if (refusal := self._refusal(interaction.user.id, prompt)) is not None:
            await reply(interaction, refusal, ephemeral=True)
            return
        turn = self.queue.take_turn(scope)  # before any await: arrival order
        try:
            await interaction.response.defer(thinking=True)
        except BaseException:
            turn.leave()
            raise
        self._track()

        async def send(content: str) -> discord.WebhookMessage:
            return await interaction.followup.send(content, wait=True, allowed_mentions=NO_MENTIONS)

        async with turn:
            stream = StreamingReply(send, send, interval=self.settings.chat_stream_edit_interval)
            await self._answer(scope, Prompt(prompt, interaction.user.display_name, interaction.user.id), stream)

    @app_commands.command(name="reset", description="Make the bot forget this channel's conversation")
    async def reset(self, interaction: discord.Interaction) -> None:
        if interaction.guild is not None and not interaction.permissions.manage_messages:
            await reply(interaction, "Only members with Manage Messages can reset this channel's memory.",
                        ephemeral=True)
            return
        scope = scope_of(interaction.channel_id or interaction.user.id)
        turn = self.queue.take_turn(scope)  # after the answers already queued, so they are forgotten too
        if self.queue.waiting(scope) > 1:  # an answer is still streaming: acknowledge within 3 s
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
        if not await self._addressed(message):
            return
        text = self._prompt_text(message)
        if not text and self.bot.user not in message.mentions:
            return  # an attachment-only message in a chat channel or DM: nothing to answer
        if (refusal := self._refusal(message.author.id, text)) is not None:
            await message.reply(refusal, mention_author=False, allowed_mentions=NO_MENTIONS)
            return
        scope = scope_of(message.channel.id)
        turn = self.queue.take_turn(scope)
        self._track()
        async with turn:
            typing = message.channel.typing()
            await typing.__aenter__()
            stopped = False

            async def send_first(content: str) -> discord.Message:
                nonlocal stopped
                if not stopped:
                    stopped = True
                    await typing.__aexit__(None, None, None)
                return await message.reply(content, mention_author=False, allowed_mentions=NO_MENTIONS)

            async def send_next(content: str) -> discord.Message:
                return await message.channel.send(content, allowed_mentions=NO_MENTIONS)

            stream = StreamingReply(send_first, send_next, interval=self.settings.chat_stream_edit_interval)
            try:
                await self._answer(scope, Prompt(text, message.author.display_name, message.author.id), stream)
            except discord.HTTPException as exc:  # e.g. no permission to post here: nobody to tell but the log
                log.warning("Could not answer message %s in channel %s: %s", message.id, scope, exc)
            finally:
                if not stopped:
                    await typing.__aexit__(None, None, None)

    async def _addressed(self, message: discord.Message) -> bool:
        """A DM (when allowed), a mention, a reply to the bot, or any message in a chat channel."""
        assert self.bot.user is not None
        if message.guild is None:
            return self.settings.chat_allow_dms
        if self.bot.user in message.mentions:
            return True
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
            text = re.sub(rf"<@!?{user.id}>", f"@{user.display_name}", text)
        for role in message.role_mentions:
            text = text.replace(f"<@&{role.id}>", f"@{role.name}")
        return text.strip()


async def setup(bot: Bot) -> None:
    await bot.add_cog(Chat(bot))
