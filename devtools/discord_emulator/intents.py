"""Gateway intents: which dispatches a session receives, and what MESSAGE_CONTENT hides."""

from __future__ import annotations

from typing import Any

GUILDS = 1 << 0
GUILD_MEMBERS = 1 << 1
GUILD_MODERATION = 1 << 2
GUILD_VOICE_STATES = 1 << 7
GUILD_PRESENCES = 1 << 8
GUILD_MESSAGES = 1 << 9
GUILD_MESSAGE_REACTIONS = 1 << 10
GUILD_MESSAGE_TYPING = 1 << 11
DIRECT_MESSAGES = 1 << 12
DIRECT_MESSAGE_REACTIONS = 1 << 13
DIRECT_MESSAGE_TYPING = 1 << 14
MESSAGE_CONTENT = 1 << 15
VALID = (1 << 26) - 1

_GUILD_EVENTS = {"GUILD_UPDATE", "GUILD_DELETE", "GUILD_ROLE_CREATE", "GUILD_ROLE_UPDATE", "GUILD_ROLE_DELETE",
                 "CHANNEL_CREATE", "CHANNEL_UPDATE", "CHANNEL_DELETE", "THREAD_CREATE", "THREAD_UPDATE",
                 "THREAD_DELETE"}
_MEMBER_EVENTS = {"GUILD_MEMBER_ADD", "GUILD_MEMBER_UPDATE", "GUILD_MEMBER_REMOVE"}
_MODERATION_EVENTS = {"GUILD_BAN_ADD", "GUILD_BAN_REMOVE"}
_MESSAGE_EVENTS = {"MESSAGE_CREATE", "MESSAGE_UPDATE", "MESSAGE_DELETE", "MESSAGE_DELETE_BULK"}
_REACTION_EVENTS = {"MESSAGE_REACTION_ADD", "MESSAGE_REACTION_REMOVE"}


def required_intent(event: str, *, in_guild: bool) -> int:
    """The intent an event needs; 0 for events every session gets (READY, INTERACTION_CREATE, ...)."""
    if event in _GUILD_EVENTS:
        return GUILDS
    if event in _MEMBER_EVENTS:
        return GUILD_MEMBERS
    if event in _MODERATION_EVENTS:
        return GUILD_MODERATION
    if event == "VOICE_STATE_UPDATE":
        return GUILD_VOICE_STATES
    if event in _MESSAGE_EVENTS:
        return GUILD_MESSAGES if in_guild else DIRECT_MESSAGES
    if event in _REACTION_EVENTS:
        return GUILD_MESSAGE_REACTIONS if in_guild else DIRECT_MESSAGE_REACTIONS
    if event == "TYPING_START":
        return GUILD_MESSAGE_TYPING if in_guild else DIRECT_MESSAGE_TYPING
    return 0


def hide_content(message: dict[str, Any], bot_id: int) -> dict[str, Any]:
    """Without MESSAGE_CONTENT a bot sees empty content, embeds, attachments and components, except in
    DMs, in its own messages and in messages that mention it."""
    if "guild_id" not in message:
        return message
    if int(message.get("author", {}).get("id", 0)) == bot_id:
        return message
    if any(int(u["id"]) == bot_id for u in message.get("mentions", [])):
        return message
    hidden = dict(message, content="", embeds=[], attachments=[], components=[])
    hidden.pop("poll", None)
    return hidden
