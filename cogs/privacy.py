"""What the bot keeps about people, erased when they want: /forget-me, and deleted messages forgotten.

Deleting a message in Discord (or a purge) erases the conversation exchange it came from or was
shown in. /forget-me erases the caller's own turns everywhere (text and voice, with the answers to
them) and deletes the bot's transcripts of their speech; their reminders and time zone go too, on a
confirmation button only they can press. What is kept and for how long is in the README ("Data").
"""

from __future__ import annotations

import asyncio
import logging

import discord
from discord import app_commands
from discord.ext import commands

from bot import Bot
from discord_ui.ui import reply
from services.chat.memory import MessageRef

log = logging.getLogger(__name__)


class ForgetReminders(discord.ui.View):
    """The second step of /forget-me: erase reminders too. Only the member who asked can press it."""

    def __init__(self, cog: Privacy, owner_id: int, count: int, *, timeout: float = 300) -> None:
        super().__init__(timeout=timeout)
        self.cog = cog
        self.owner_id = owner_id
        self.confirm.label = f"Also delete my {count} reminder{'s' if count != 1 else ''} and time zone"

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        if interaction.user.id == self.owner_id:
            return True
        await interaction.response.send_message("Only the person who used /forget-me can press this.", ephemeral=True)
        return False

    @discord.ui.button(label="Also delete my reminders", style=discord.ButtonStyle.danger, custom_id="forget-reminders")
    async def confirm(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:
        removed = await self.cog.bot.services.reminders.forget_owner(self.owner_id)
        self.stop()
        await interaction.response.edit_message(
            content=f"Done: {removed} reminder{'s' if removed != 1 else ''} and your time zone deleted.", view=None)

    @discord.ui.button(label="Keep my reminders", style=discord.ButtonStyle.secondary, custom_id="keep-reminders")
    async def keep(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:
        self.stop()
        await interaction.response.edit_message(content="Your reminders stay.", view=None)


class Privacy(commands.Cog):
    def __init__(self, bot: Bot) -> None:
        self.bot = bot
        self.conversations = bot.services.conversations
        self._deleting: set[asyncio.Task[None]] = set()

    async def cog_unload(self) -> None:
        for task in list(self._deleting):
            task.cancel()
        await asyncio.gather(*self._deleting, return_exceptions=True)

    # --- deleted messages ------------------------------------------------------------------------

    @commands.Cog.listener()
    async def on_raw_message_delete(self, payload: discord.RawMessageDeleteEvent) -> None:
        await self._forget([payload.message_id])

    @commands.Cog.listener()
    async def on_raw_bulk_message_delete(self, payload: discord.RawBulkMessageDeleteEvent) -> None:
        await self._forget(sorted(payload.message_ids))

    async def _forget(self, message_ids: list[int]) -> None:
        removed = await self.conversations.forget_messages(message_ids)
        if removed:
            log.info("Forgot %d conversation turn(s) whose messages were deleted", removed)

    # --- /forget-me --------------------------------------------------------------------------------

    @app_commands.command(name="forget-me", description="Erase what the bot remembers of your conversations "
                                                        "and transcripts, everywhere")
    async def forget_me(self, interaction: discord.Interaction) -> None:
        user = interaction.user
        await interaction.response.defer(ephemeral=True, thinking=True)
        forgotten = await self.conversations.forget_author(user.id)
        try:  # the DM conversation is theirs alone, older turns included
            dm = await self.bot.create_dm(user)
            dm_turns = await self.conversations.clear(dm.id)
        except discord.HTTPException as exc:
            log.warning("/forget-me by %s: could not look up their DM channel: %s", user.id, exc)
            dm_turns = 0
        if forgotten.transcripts:
            task = asyncio.create_task(self._delete_transcripts(user.id, forgotten.transcripts),
                                       name=f"forget-transcripts-{user.id}")
            self._deleting.add(task)
            task.add_done_callback(self._deleting.discard)
        turns = forgotten.turns + dm_turns
        log.info("/forget-me by %s (%s): %d turns erased, %d transcripts to delete", user, user.id, turns,
                 len(forgotten.transcripts))
        lines = [f"Done: I forgot {turns} conversation turn{'s' if turns != 1 else ''} of yours (and my answers to them)"
                 + (f", and I'm deleting the {len(forgotten.transcripts)} transcript"
                    f"{'s' if len(forgotten.transcripts) != 1 else ''} of what you said in voice calls."
                    if forgotten.transcripts else ".")]
        reminders = await self.bot.services.reminders.count_all(user.id)
        view = None
        if reminders:
            lines.append(f"You also have {reminders} reminder{'s' if reminders != 1 else ''} (pending or recently "
                         "finished). Delete them and your time zone too?")
            view = ForgetReminders(self, user.id, reminders)
        await reply(interaction, "\n".join(lines), view=view, ephemeral=True)

    async def _delete_transcripts(self, user_id: int, transcripts: list[MessageRef]) -> None:
        """The bot's own messages quoting the member's speech; discord.py paces the deletes (rate limits)."""
        deleted = 0
        for ref in transcripts:
            try:
                await self.bot.http.delete_message(ref.channel_id, ref.message_id, reason="/forget-me")
                deleted += 1
            except discord.NotFound:
                deleted += 1  # already gone
            except discord.HTTPException as exc:
                log.warning("/forget-me of %s: could not delete transcript %s in channel %s: %s", user_id,
                            ref.message_id, ref.channel_id, exc)
        log.info("/forget-me of %s: %d of %d transcript messages deleted", user_id, deleted, len(transcripts))


async def setup(bot: Bot) -> None:
    await bot.add_cog(Privacy(bot))
