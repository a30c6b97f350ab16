"""Permission arithmetic as Discord does it: base from roles, then channel overwrites."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord

if TYPE_CHECKING:
    from devtools.discord_emulator.world import Channel, Guild, Member

# Bit values come from discord.py's Permissions so names read like the developer portal's.
ALL = discord.Permissions.all().value
ADMINISTRATOR = discord.Permissions(administrator=True).value
VIEW_CHANNEL = discord.Permissions(view_channel=True).value
SEND_MESSAGES = discord.Permissions(send_messages=True).value
SEND_IN_THREADS = discord.Permissions(send_messages_in_threads=True).value
MANAGE_MESSAGES = discord.Permissions(manage_messages=True).value
READ_HISTORY = discord.Permissions(read_message_history=True).value
ADD_REACTIONS = discord.Permissions(add_reactions=True).value
MENTION_EVERYONE = discord.Permissions(mention_everyone=True).value
EMBED_LINKS = discord.Permissions(embed_links=True).value
ATTACH_FILES = discord.Permissions(attach_files=True).value
CREATE_PUBLIC_THREADS = discord.Permissions(create_public_threads=True).value
SEND_TTS = discord.Permissions(send_tts_messages=True).value
CONNECT = discord.Permissions(connect=True).value

EVERYONE_DEFAULT = discord.Permissions(
    view_channel=True, send_messages=True, send_messages_in_threads=True, create_public_threads=True,
    embed_links=True, attach_files=True, add_reactions=True, use_external_emojis=True,
    read_message_history=True, mention_everyone=True, use_application_commands=True,
    connect=True, speak=True, stream=True, use_voice_activation=True, change_nickname=True,
    create_instant_invite=True,
).value
MODERATOR = discord.Permissions(manage_messages=True, manage_guild=True).value
BOT_INVITE = discord.Permissions(
    view_channel=True, send_messages=True, send_messages_in_threads=True, embed_links=True,
    attach_files=True, read_message_history=True, add_reactions=True, connect=True, speak=True,
    use_voice_activation=True,
).value
DM = discord.Permissions(
    view_channel=True, send_messages=True, embed_links=True, attach_files=True, read_message_history=True,
    add_reactions=True, mention_everyone=True, use_external_emojis=True, use_application_commands=True,
    send_tts_messages=True,
).value


def base_permissions(guild: Guild, member: Member) -> int:
    if member.id == guild.owner_id:
        return ALL
    value = guild.everyone_role.permissions
    for role_id in member.role_ids:
        role = guild.roles.get(role_id)
        if role is not None:
            value |= role.permissions
    return ALL if value & ADMINISTRATOR else value


def channel_permissions(guild: Guild, member: Member, channel: Channel) -> int:
    """The member's permissions in the channel (threads use their parent's overwrites)."""
    value = base_permissions(guild, member)
    if value & ADMINISTRATOR:
        return ALL
    source = guild.channels.get(channel.parent_id) if channel.is_thread and channel.parent_id else channel
    overwrites = {o.id: o for o in (source.overwrites if source else [])}
    everyone = overwrites.get(guild.id)
    if everyone:
        value = (value & ~everyone.deny) | everyone.allow
    allow = deny = 0
    for role_id in member.role_ids:
        o = overwrites.get(role_id)
        if o and o.type == 0:
            allow |= o.allow
            deny |= o.deny
    value = (value & ~deny) | allow
    own = overwrites.get(member.id)
    if own and own.type == 1:
        value = (value & ~own.deny) | own.allow
    if not value & VIEW_CHANNEL:
        return 0
    send = SEND_IN_THREADS if channel.is_thread else SEND_MESSAGES
    if not value & send:
        value &= ~(MENTION_EVERYONE | SEND_TTS | ATTACH_FILES | EMBED_LINKS)
    return value


def can_send(permissions: int, channel: Channel) -> bool:
    return bool(permissions & (SEND_IN_THREADS if channel.is_thread else SEND_MESSAGES))
