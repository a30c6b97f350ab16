"""Small Discord helpers shared by the cogs (not an extension: the underscore keeps it unloaded)."""

from __future__ import annotations

import discord

NO_MENTIONS = discord.AllowedMentions.none()


async def reply(interaction: discord.Interaction, content: str | None = None, *,
                embed: discord.Embed | None = None, ephemeral: bool = False,
                view: discord.ui.View | None = None) -> None:
    """Answer an interaction whether or not it was already deferred or answered."""
    kwargs: dict = {"content": content, "ephemeral": ephemeral, "allowed_mentions": NO_MENTIONS}
    if embed is not None:
        kwargs["embed"] = embed
    if view is not None:
        kwargs["view"] = view
    if interaction.response.is_done():
        await interaction.followup.send(**kwargs)
    else:
        await interaction.response.send_message(**kwargs)


def is_bot_admin(interaction: discord.Interaction, owner_ids: tuple[int, ...]) -> bool:
    """Guild administrators and the configured bot owners."""
    if interaction.user.id in owner_ids:
        return True
    return interaction.guild is not None and interaction.permissions.administrator
