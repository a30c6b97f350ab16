"""Interaction callbacks and the interaction webhook (@original and follow-ups); no bot token needed."""

from __future__ import annotations

from aiohttp import web

from devtools.discord_emulator.interactions import InteractionState
from devtools.discord_emulator.rest.util import core, json_response, message_body, no_content, snowflake

routes = web.RouteTableDef()
ORIGINAL = "/webhooks/{application_id}/{token}/messages/@original"
FOLLOWUP = "/webhooks/{application_id}/{token}/messages/{message_id}"


def _state(request: web.Request) -> InteractionState:
    return core(request).desk.webhook_state(snowflake(request, "application_id"), request.match_info["token"])


def _wants_body(request: web.Request, name: str) -> bool:
    return request.query.get(name, "").lower() in ("1", "true")


@routes.post("/interactions/{interaction_id}/{token}/callback")
async def callback(request: web.Request) -> web.Response:
    c = core(request)
    body, files = await message_body(request)
    result = await c.desk.callback(snowflake(request, "interaction_id"), request.match_info["token"], body, files)
    return json_response(result) if _wants_body(request, "with_response") else no_content()


@routes.get(ORIGINAL)
async def get_original(request: web.Request) -> web.Response:
    c = core(request)
    return json_response(c.messenger.payload(c.desk.message_of(_state(request), None)))


@routes.patch(ORIGINAL)
async def edit_original(request: web.Request) -> web.Response:
    c = core(request)
    state = _state(request)
    body, files = await message_body(request)
    return json_response(c.messenger.payload(await c.desk.edit(state, None, body, files)))


@routes.delete(ORIGINAL)
async def delete_original(request: web.Request) -> web.Response:
    await core(request).desk.delete(_state(request), None)
    return no_content()


@routes.post("/webhooks/{application_id}/{token}")
async def followup(request: web.Request) -> web.Response:
    c = core(request)
    state = _state(request)
    body, files = await message_body(request)
    record = await c.desk.followup(state, body, files)
    return json_response(c.messenger.payload(record)) if _wants_body(request, "wait") else no_content()


@routes.get(FOLLOWUP)
async def get_followup(request: web.Request) -> web.Response:
    c = core(request)
    return json_response(c.messenger.payload(c.desk.message_of(_state(request), snowflake(request, "message_id"))))


@routes.patch(FOLLOWUP)
async def edit_followup(request: web.Request) -> web.Response:
    c = core(request)
    state = _state(request)
    body, files = await message_body(request)
    record = await c.desk.edit(state, snowflake(request, "message_id"), body, files)
    return json_response(c.messenger.payload(record))


@routes.delete(FOLLOWUP)
async def delete_followup(request: web.Request) -> web.Response:
    await core(request).desk.delete(_state(request), snowflake(request, "message_id"))
    return no_content()
