"""World objects and message records as Discord's JSON (ids as strings, every field discord.py reads)."""

from __future__ import annotations

from typing import Any

from devtools.discord_emulator.records import Attachment, MessageRecord
from devtools.discord_emulator.world import Channel, ChannelType, Guild, Member, Role, User, VoiceState, World, iso


def user(u: User) -> dict[str, Any]:
    return {"id": str(u.id), "username": u.username, "discriminator": "0", "global_name": u.global_name,
            "avatar": None, "bot": u.bot, "system": False, "public_flags": 0, "flags": 0,
            "banner": None, "accent_color": None, "avatar_decoration_data": None, "primary_guild": None}


def member(m: Member, *, with_user: bool = True, permissions: int | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {
        "roles": [str(r) for r in m.role_ids], "nick": m.nick, "avatar": None, "banner": None,
        "joined_at": m.joined_at, "premium_since": None, "deaf": False, "mute": False, "flags": 0,
        "pending": False, "communication_disabled_until": None,
    }
    if with_user:
        data["user"] = user(m.user)
    if permissions is not None:
        data["permissions"] = str(permissions)
    return data


def role(r: Role) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": str(r.id), "name": r.name, "color": 0, "colors": {"primary_color": 0, "secondary_color": None,
                                                              "tertiary_color": None},
        "hoist": False, "icon": None, "unicode_emoji": None, "position": r.position,
        "permissions": str(r.permissions), "managed": r.managed, "mentionable": r.mentionable, "flags": 0,
    }
    if r.bot_id is not None:
        data["tags"] = {"bot_id": str(r.bot_id)}
    return data


def channel(c: Channel, *, permissions: int | None = None) -> dict[str, Any]:
    """Full channel object; `permissions` adds the field interactions carry (the member's permissions)."""
    if c.is_dm:
        data: dict[str, Any] = {"id": str(c.id), "type": int(c.type), "last_message_id": None, "flags": 0,
                                "recipients": [user(u) for u in c.recipients]}
    else:
        data = {
            "id": str(c.id), "type": int(c.type), "guild_id": str(c.guild_id), "name": c.name,
            "position": c.position, "parent_id": str(c.parent_id) if c.parent_id else None, "nsfw": c.nsfw,
            "flags": 0, "rate_limit_per_user": 0, "last_message_id": None,
            "permission_overwrites": [{"id": str(o.id), "type": o.type, "allow": str(o.allow), "deny": str(o.deny)}
                                      for o in c.overwrites],
        }
        if c.type in (ChannelType.TEXT, ChannelType.NEWS):
            data["topic"] = c.topic
        if c.is_voice:
            data.update(bitrate=64000, user_limit=0, rtc_region=None, video_quality_mode=1)
        if c.is_thread:
            data.pop("permission_overwrites")
            data.update(owner_id=str(c.owner_id or 0), message_count=0, member_count=1, total_message_sent=0,
                        thread_metadata={"archived": False, "auto_archive_duration": 1440, "locked": False,
                                         "archive_timestamp": iso(0)})
    if permissions is not None:
        data["permissions"] = str(permissions)
    return data


def voice_state(guild_id: int, m: Member, state: VoiceState | None) -> dict[str, Any]:
    return {
        "guild_id": str(guild_id), "channel_id": str(state.channel_id) if state else None, "user_id": str(m.id),
        "session_id": state.session_id if state else "", "deaf": False, "mute": False,
        "self_deaf": state.self_deaf if state else False, "self_mute": state.self_mute if state else False,
        "self_video": False, "self_stream": False, "suppress": False, "request_to_speak_timestamp": None,
        "member": member(m),
    }


def ready(world: World, session_id: str, resume_url: str, guilds: list[Guild],
          shard: tuple[int, int] | None) -> dict[str, Any]:
    """READY: the bot user, the shard's guilds (unavailable until their GUILD_CREATE), the session."""
    bot = world.bot_user
    data: dict[str, Any] = {
        "v": 10, "user": {**user(bot), "verified": True, "mfa_enabled": False, "email": None},
        "guilds": [{"id": str(g.id), "unavailable": True} for g in guilds],
        "session_id": session_id, "session_type": "normal", "resume_gateway_url": resume_url,
        "application": {"id": str(world.application.id), "flags": world.application.flags},
        "private_channels": [], "relationships": [], "presences": [], "guild_join_requests": [],
        "geo_ordered_rtc_regions": ["emulator"], "user_settings": {}, "auth": {}, "_trace": ["emu"],
    }
    if shard is not None:
        data["shard"] = list(shard)
    return data


def guild_create(world: World, g: Guild, *, all_members: bool) -> dict[str, Any]:
    """GUILD_CREATE: everything about the guild. Without the members intent Discord sends only the
    bot and the members in voice channels, so other members are unknown until an event names them."""
    members = [m for m in g.members.values()
               if all_members or m.id == world.bot_user.id or m.voice is not None]
    return {
        "id": str(g.id), "name": g.name, "icon": None, "splash": None, "discovery_splash": None, "banner": None,
        "owner_id": str(g.owner_id), "afk_channel_id": None, "afk_timeout": 300, "verification_level": 0,
        "default_message_notifications": 0, "explicit_content_filter": 0, "mfa_level": 0, "nsfw_level": 0,
        "features": [], "premium_tier": 0, "premium_subscription_count": 0, "preferred_locale": "en-US",
        "system_channel_id": None, "system_channel_flags": 0, "rules_channel_id": None,
        "public_updates_channel_id": None, "description": None, "vanity_url_code": None, "max_members": 500000,
        "application_id": None, "premium_progress_bar_enabled": False, "widget_enabled": False,
        "roles": [role(r) for r in g.roles.values()], "emojis": [], "stickers": [],
        "joined_at": g.joined_at, "large": False, "unavailable": False, "member_count": len(g.members),
        "members": [member(m) for m in members],
        "channels": [channel(c) for c in g.channels.values() if not c.is_thread],
        "threads": [channel(c) for c in g.channels.values() if c.is_thread],
        "voice_states": [{k: v for k, v in voice_state(g.id, m, m.voice).items() if k not in ("guild_id", "member")}
                         for m in g.members.values() if m.voice is not None],
        "presences": [], "stage_instances": [], "guild_scheduled_events": [], "soundboard_sounds": [],
    }


def attachment(a: Attachment, base_url: str) -> dict[str, Any]:
    url = f"{base_url}/attachments/{a.id}/{a.filename}"
    data: dict[str, Any] = {"id": str(a.id), "filename": a.filename, "size": a.size, "url": url, "proxy_url": url,
                            "content_type": a.content_type}
    if a.description is not None:
        data["description"] = a.description
    if a.duration_secs is not None:  # a voice message: Discord adds its length and a waveform
        data["duration_secs"] = a.duration_secs
        data["waveform"] = "AAAAAAAAAAAA"
    return data


def message(world: World, record: MessageRecord, base_url: str, *, depth: int = 0,
            lookup: dict[int, MessageRecord] | None = None) -> dict[str, Any]:
    """A message as the API returns it and the gateway dispatches it (latest version)."""
    author = world.users[record.author_id]
    v = record.latest
    data: dict[str, Any] = {
        "id": str(record.id), "channel_id": str(record.channel_id), "type": record.type,
        "author": user(author), "content": v.content, "timestamp": record.timestamp,
        "edited_timestamp": record.edited_timestamp, "tts": record.tts,
        "mention_everyone": v.mention_everyone, "mention_roles": [str(r) for r in v.mention_roles],
        "mentions": [], "attachments": [attachment(a, base_url) for a in v.attachments], "embeds": v.embeds,
        "components": v.components, "pinned": False, "flags": v.flags,
        "reactions": [{"emoji": _emoji(e), "count": len(u), "count_details": {"burst": 0, "normal": len(u)},
                       "me": world.bot_user.id in u, "me_burst": False, "burst_colors": []}
                      for e, u in record.reactions.items() if u],
    }
    guild = world.guilds.get(record.guild_id) if record.guild_id else None
    for user_id in v.mentions:
        mentioned = user(world.users[user_id])
        if guild and user_id in guild.members:
            mentioned["member"] = member(guild.members[user_id], with_user=False)
        data["mentions"].append(mentioned)
    if guild is not None:
        data["guild_id"] = str(guild.id)
        if record.author_id in guild.members:
            data["member"] = member(guild.members[record.author_id], with_user=False)
    if record.nonce is not None:
        data["nonce"] = record.nonce
    if record.webhook_id is not None:
        data["webhook_id"] = str(record.webhook_id)
        data["application_id"] = str(world.application.id)
    if record.interaction_metadata is not None:
        data["interaction_metadata"] = record.interaction_metadata
    if record.reference is not None:
        data["message_reference"] = record.reference
        referenced = (lookup or {}).get(int(record.reference["message_id"]))
        if depth == 0:
            data["referenced_message"] = (None if referenced is None or referenced.deleted else
                                          message(world, referenced, base_url, depth=1, lookup=lookup))
    return data


def _emoji(name: str) -> dict[str, Any]:
    if ":" in name:  # custom emoji "name:id"
        emoji_name, _, emoji_id = name.partition(":")
        return {"id": emoji_id, "name": emoji_name}
    return {"id": None, "name": name}
