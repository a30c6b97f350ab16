"""Channels and messages: fetch, typing, send (JSON or multipart), edit, delete, history, reactions."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from devtools.discord_emulator import payloads
from devtools.discord_emulator import permissions as perms
from devtools.discord_emulator.errors import (
    FormErrors,
    cannot_dm,
    cannot_edit_others,
    missing_access,
    missing_permissions,
    not_text_channel,
    unknown,
)
from devtools.discord_emulator.records import MessageRecord
from devtools.discord_emulator.rest.util import (
    bot_channel,
    core,
    json_body,
    json_response,
    message_body,
    no_content,
    snowflake,
)
from devtools.discord_emulator.world import Channel, ChannelType

routes = web.RouteTableDef()


def _message(request: web.Request, channel: Channel) -> MessageRecord:
    record = core(request).messenger.find(channel.id, snowflake(request, "message_id"))
    if record is None or record.ephemeral:
        raise unknown("Message")
    return record


@routes.get("/channels/{channel_id}")
async def get_channel(request: web.Request) -> web.Response:
    _, channel = bot_channel(core(request), snowflake(request, "channel_id"))
    return json_response(payloads.channel(channel))


@routes.post("/channels/{channel_id}/typing")
async def typing(request: web.Request) -> web.Response:
    c = core(request)
    _, channel = bot_channel(c, snowflake(request, "channel_id"))
    if not perms.can_send(c.world.permissions(c.world.bot_user, channel), channel):
        raise missing_permissions()
    await c.messenger.typing(channel, c.world.bot_user)
    return no_content()


@routes.post("/channels/{channel_id}/messages")
async def create_message(request: web.Request) -> web.Response:
    c = core(request)
    _, channel = bot_channel(c, snowflake(request, "channel_id"))
    if not channel.is_text:
        raise not_text_channel()
    granted = c.world.permissions(c.world.bot_user, channel)
    if not perms.can_send(granted, channel):
        raise missing_permissions()
    if channel.is_dm and (not channel.recipients[0].dms_open or channel.recipients[0].bot):
        raise cannot_dm()
    body, files = await message_body(request)
    if files and not granted & perms.ATTACH_FILES:
        raise missing_permissions()
    record = (c.messenger.earlier_with_nonce(c.world.bot_user, body)
              or await c.messenger.create(channel, c.world.bot_user, body, files))
    return json_response(c.messenger.payload(record))


@routes.get("/channels/{channel_id}/messages")
async def history(request: web.Request) -> web.Response:
    c = core(request)
    _, channel = bot_channel(c, snowflake(request, "channel_id"))
    query = request.query
    limit = int(query.get("limit", "50"))
    if not 1 <= limit <= 100:
        errors = FormErrors()
        errors.add(("limit",), "NUMBER_TYPE_MAX" if limit > 100 else "NUMBER_TYPE_MIN",
                   "int value should be less than or equal to 100." if limit > 100 else
                   "int value should be greater than or equal to 1.")
        errors.raise_if_any()
    if not c.world.permissions(c.world.bot_user, channel) & perms.READ_HISTORY:
        return json_response([])
    messages = sorted((m for m in c.messenger.in_channel(channel.id) if not m.ephemeral), key=lambda m: m.id)
    if "around" in query:
        pivot = int(query["around"])
        older = [m for m in messages if m.id < pivot][-(limit // 2):] if limit > 1 else []
        rest = [m for m in messages if m.id >= pivot][: limit - len(older)]
        chosen = older + rest
    elif "after" in query:
        chosen = [m for m in messages if m.id > int(query["after"])][:limit]
    else:
        before = int(query.get("before", "0")) or None
        chosen = [m for m in messages if before is None or m.id < before][-limit:]
    return json_response([c.messenger.payload(m) for m in reversed(chosen)])


@routes.get("/channels/{channel_id}/messages/{message_id}")
async def get_message(request: web.Request) -> web.Response:
    c = core(request)
    _, channel = bot_channel(c, snowflake(request, "channel_id"))
    if not c.world.permissions(c.world.bot_user, channel) & perms.READ_HISTORY:
        raise missing_access()
    return json_response(c.messenger.payload(_message(request, channel)))


@routes.patch("/channels/{channel_id}/messages/{message_id}")
async def edit_message(request: web.Request) -> web.Response:
    c = core(request)
    _, channel = bot_channel(c, snowflake(request, "channel_id"))
    record = _message(request, channel)
    if record.author_id != c.world.bot_user.id:
        raise cannot_edit_others()
    body, files = await message_body(request)
    record = await c.messenger.edit(record, body, files)
    return json_response(c.messenger.payload(record))


@routes.delete("/channels/{channel_id}/messages/{message_id}")
async def delete_message(request: web.Request) -> web.Response:
    c = core(request)
    _, channel = bot_channel(c, snowflake(request, "channel_id"))
    record = _message(request, channel)
    own = record.author_id == c.world.bot_user.id
    if not own and (channel.is_dm or not c.world.permissions(c.world.bot_user, channel) & perms.MANAGE_MESSAGES):
        raise missing_permissions()
    await c.messenger.delete(record, c.world.bot_user)
    return no_content()


@routes.post("/channels/{channel_id}/messages/bulk-delete")
async def bulk_delete(request: web.Request) -> web.Response:
    c = core(request)
    _, channel = bot_channel(c, snowflake(request, "channel_id"), need=perms.MANAGE_MESSAGES)
    body: dict[str, Any] = await json_body(request)
    found = [c.messenger.find(channel.id, int(message_id)) for message_id in body.get("messages") or []]
    await c.messenger.delete_many([r for r in found if r is not None], c.world.bot_user)
    return no_content()


@routes.put("/channels/{channel_id}/messages/{message_id}/reactions/{emoji}/@me")
async def add_reaction(request: web.Request) -> web.Response:
    c = core(request)
    _, channel = bot_channel(c, snowflake(request, "channel_id"))
    record = _message(request, channel)
    emoji = request.match_info["emoji"]
    granted = c.world.permissions(c.world.bot_user, channel)
    if not granted & perms.READ_HISTORY or (not granted & perms.ADD_REACTIONS and not record.reactions.get(emoji)):
        raise missing_permissions()
    await c.messenger.react(record, c.world.bot_user, emoji)
    return no_content()


@routes.delete("/channels/{channel_id}/messages/{message_id}/reactions/{emoji}/@me")
async def remove_own_reaction(request: web.Request) -> web.Response:
    c = core(request)
    _, channel = bot_channel(c, snowflake(request, "channel_id"))
    record = _message(request, channel)
    await c.messenger.react(record, c.world.bot_user, request.match_info["emoji"], add=False)
    return no_content()


@routes.delete("/channels/{channel_id}/messages/{message_id}/reactions/{emoji}/{user_id}")
async def remove_reaction(request: web.Request) -> web.Response:
    c = core(request)
    _, channel = bot_channel(c, snowflake(request, "channel_id"), need=perms.MANAGE_MESSAGES)
    record = _message(request, channel)
    user = c.world.users.get(snowflake(request, "user_id"))
    if user is None:
        raise unknown("User")
    await c.messenger.react(record, user, request.match_info["emoji"], add=False)
    return no_content()


@routes.get("/channels/{channel_id}/messages/{message_id}/reactions/{emoji}")
async def reaction_users(request: web.Request) -> web.Response:
    c = core(request)
    _, channel = bot_channel(c, snowflake(request, "channel_id"))
    record = _message(request, channel)
    users = record.reactions.get(request.match_info["emoji"]) or []
    return json_response([payloads.user(c.world.users[u]) for u in users])


@routes.post("/channels/{channel_id}/messages/{message_id}/threads")
async def start_thread_from_message(request: web.Request) -> web.Response:
    """Start Thread from Message: a public thread whose id is the message's, THREAD_CREATE dispatched."""
    c = core(request)
    guild, channel = bot_channel(c, snowflake(request, "channel_id"))
    record = _message(request, channel)
    if guild is None or channel.is_thread or not channel.is_text:
        raise not_text_channel()
    if not c.world.permissions(c.world.bot_user, channel) & perms.CREATE_PUBLIC_THREADS:
        raise missing_permissions()
    if any(ch.id == record.id for ch in guild.channels.values()):
        errors = FormErrors()
        errors.add((), "THREAD_ALREADY_CREATED", "A thread has already been created for this message")
        errors.raise_if_any()
    body = await json_body(request)
    name = str(body.get("name") or "").strip()
    if not 1 <= len(name) <= 100:
        errors = FormErrors()
        errors.add(("name",), "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100 in length.")
        errors.raise_if_any()
    thread = Channel(record.id, ChannelType.PUBLIC_THREAD, name, guild.id, position=len(guild.channels),
                     parent_id=channel.id, owner_id=c.world.bot_user.id)
    guild.channels[thread.id] = thread
    data = payloads.channel(thread)
    await c.gateway.dispatch("THREAD_CREATE", {**data, "newly_created": True}, guild_id=guild.id)
    return json_response(data, status=201)
