"""Small Discord helpers shared by the cogs: replies that work in any interaction state, and an owner-only pager."""

from __future__ import annotations

import logging

import discord

log = logging.getLogger(__name__)

NO_MENTIONS = discord.AllowedMentions.none()
# Interaction.extras keys of a waiting notice (discord_ui/notice.py): the notice, and whether it was shown.
NOTICE_KEY = "wait_notice"
NOTICE_SHOWN_KEY = "wait_notice_shown"


async def reply(interaction: discord.Interaction, content: str | None = None, *,
                embed: discord.Embed | None = None, ephemeral: bool = False,
                view: discord.ui.View | None = None) -> None:
    """Answer an interaction whether or not it was already deferred or answered.

    After a "waiting in line" notice the answer replaces the notice (it is the same placeholder).
    """
    notice = interaction.extras.pop(NOTICE_KEY, None)
    if notice is not None:
        await notice.close()
    if interaction.extras.pop(NOTICE_SHOWN_KEY, False):
        edit: dict = {"content": content, "embed": embed, "allowed_mentions": NO_MENTIONS}
        if view is not None:
            edit["view"] = view
        await interaction.edit_original_response(**edit)
        return
    kwargs: dict = {"content": content, "ephemeral": ephemeral, "allowed_mentions": NO_MENTIONS}
    if embed is not None:
        kwargs["embed"] = embed
    if view is not None:
        kwargs["view"] = view
    if interaction.response.is_done():
        await interaction.followup.send(**kwargs)
    else:
        await interaction.response.send_message(**kwargs)


class OwnerPager(discord.ui.View):
    """Previous/next buttons that only the person who asked may press; removed when they time out.

    Subclasses say where they are (`at_start`, `at_end`) and render a step (`turn`).
    """

    def __init__(self, owner_id: int, *, timeout: float = 300) -> None:
        super().__init__(timeout=timeout)
        self.owner_id = owner_id
        self.message: discord.InteractionMessage | None = None

    def at_start(self) -> bool:
        raise NotImplementedError

    def at_end(self) -> bool:
        raise NotImplementedError

    async def turn(self, step: int) -> discord.Embed:
        raise NotImplementedError

    def sync(self) -> None:
        self.previous.disabled = self.at_start()
        self.next.disabled = self.at_end()

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        if interaction.user.id == self.owner_id:
            return True
        await interaction.response.send_message("Only the person who asked can page through these.", ephemeral=True)
        return False

    async def _show(self, interaction: discord.Interaction, step: int) -> None:
        embed = await self.turn(step)
        self.sync()
        await interaction.response.edit_message(embed=embed, view=self)

    @discord.ui.button(label="◀ Previous", style=discord.ButtonStyle.secondary)
    async def previous(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:
        await self._show(interaction, -1)

    @discord.ui.button(label="Next ▶", style=discord.ButtonStyle.secondary)
    async def next(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:
        await self._show(interaction, +1)

    async def on_timeout(self) -> None:
        if self.message is not None:
            try:
                await self.message.edit(view=None)
            except discord.HTTPException as exc:
                log.debug("Could not remove a pager: %s", exc)
