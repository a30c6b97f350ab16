"""Who may make the bot do what. The bot never does for a member what the member could not do, so each
command asks these at its start, with the member's own permissions where the bot would act."""

from __future__ import annotations

from collections.abc import Collection, Iterable

import discord


def may_post(permissions: discord.Permissions, channel: object) -> bool:
    """Whether someone with `permissions` in `channel` may send messages there (threads have their own bit)."""
    send = permissions.send_messages_in_threads if isinstance(channel, discord.Thread) else permissions.send_messages
    return permissions.view_channel and send


def answers_publicly(interaction: discord.Interaction) -> bool:
    """An answer to this interaction may be public only where the member may post themselves (DMs: always).

    Discord computes `interaction.permissions` for the member in this channel, overwrites included."""
    if interaction.guild is None:
        return True
    return may_post(interaction.permissions, interaction.channel)


def may_administer_bot(interaction: discord.Interaction, owner_ids: Collection[int],
                       admin_guild_ids: Collection[int]) -> bool:
    """Whole-bot commands (/health, /cache-clear): the bot's owners, or administrators of the servers listed
    in ADMIN_GUILD_IDS. An administrator of any other server the bot is in is a stranger to the bot."""
    if interaction.user.id in owner_ids:
        return True
    return (interaction.guild_id is not None and interaction.guild_id in admin_guild_ids
            and interaction.permissions.administrator)


def can_read(member: discord.Member, channel: discord.abc.GuildChannel | discord.Thread) -> bool:
    """Whether the member sees the channel and its history (so sees what the bot posts there)."""
    permissions = channel.permissions_for(member)
    return permissions.view_channel and permissions.read_message_history


def everyone_can_read(members: Iterable[discord.Member], channel: discord.abc.GuildChannel | discord.Thread) -> bool:
    return all(can_read(member, channel) for member in members)


def controls_voice(member: discord.Member, bot_channel: discord.abc.GuildChannel) -> bool:
    """/leave, /say, moving the bot: someone in the bot's own channel, or a member who may move members there."""
    voice = member.voice
    if voice is not None and voice.channel is not None and voice.channel.id == bot_channel.id:
        return True
    return bot_channel.permissions_for(member).move_members
