"""Users, the application, DM channels and the gateway URL."""

from __future__ import annotations

from aiohttp import web

from devtools.discord_emulator import payloads
from devtools.discord_emulator.errors import unknown
from devtools.discord_emulator.rest.util import core, json_body, json_response, no_content, snowflake

routes = web.RouteTableDef()


@routes.get("/users/@me")
async def me(request: web.Request) -> web.Response:
    bot = core(request).world.bot_user
    return json_response({**payloads.user(bot), "verified": True, "mfa_enabled": False, "email": None,
                          "locale": "en-US", "premium_type": 0})


@routes.get("/users/{user_id}")
async def get_user(request: web.Request) -> web.Response:
    user = core(request).world.users.get(snowflake(request, "user_id"))
    if user is None:
        raise unknown("User")
    return json_response(payloads.user(user))


@routes.get("/oauth2/applications/@me")
async def application(request: web.Request) -> web.Response:
    app = core(request).world.application
    return json_response({
        "id": str(app.id), "name": app.name, "icon": None, "description": "", "summary": "",
        "bot_public": True, "bot_require_code_grant": False, "verify_key": "0" * 64, "flags": app.flags,
        "owner": payloads.user(app.owner), "team": None, "bot": payloads.user(app.bot), "rpc_origins": [],
        "tags": [], "redirect_uris": [], "interactions_endpoint_url": None, "approximate_guild_count":
        len(core(request).world.guilds),
    })


@routes.post("/users/@me/channels")
async def open_dm(request: web.Request) -> web.Response:
    world = core(request).world
    body = await json_body(request)
    user = world.users.get(int(body.get("recipient_id") or 0))
    if user is None:
        raise unknown("User")
    return json_response(payloads.channel(world.dm_channel(user)))


@routes.delete("/users/@me/guilds/{guild_id}")
async def leave_guild(request: web.Request) -> web.Response:
    """The bot leaves a guild: it is no longer a member, and its sessions get GUILD_DELETE."""
    state = core(request)
    guild_id = snowflake(request, "guild_id")
    guild = state.world.guilds.pop(guild_id, None)
    if guild is None:
        raise unknown("Guild")
    guild.members.pop(state.world.bot_user.id, None)
    state.world.left_guilds[guild_id] = guild
    await state.gateway.dispatch("GUILD_DELETE", {"id": str(guild_id)}, guild_id=guild_id)
    state.notifier.notify()
    return no_content()


@routes.get("/gateway")
async def gateway(request: web.Request) -> web.Response:
    return json_response({"url": core(request).gateway.url})


@routes.get("/gateway/bot")
async def gateway_bot(request: web.Request) -> web.Response:
    state = core(request)
    limit = {"total": 1000, "remaining": 999, "reset_after": 14_400_000, "max_concurrency": 1}
    return json_response({"url": state.gateway.url, "shards": state.world.recommended_shard_count(),
                          "session_start_limit": limit})
