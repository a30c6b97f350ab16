"""Guilds, their channels, roles and members, as discord.py fetches them."""

from __future__ import annotations

from aiohttp import web

from devtools.discord_emulator import payloads
from devtools.discord_emulator.errors import unknown
from devtools.discord_emulator.rest.util import core, json_response, snowflake
from devtools.discord_emulator.world import Guild

routes = web.RouteTableDef()


def _guild(request: web.Request) -> Guild:
    guild = core(request).world.guilds.get(snowflake(request, "guild_id"))
    if guild is None:
        raise unknown("Guild")
    return guild


@routes.get("/guilds/{guild_id}")
async def get_guild(request: web.Request) -> web.Response:
    guild = _guild(request)
    data = payloads.guild_create(core(request).world, guild, all_members=False)
    for key in ("members", "channels", "threads", "voice_states", "presences", "joined_at", "large",
                "member_count"):
        data.pop(key, None)
    if request.query.get("with_counts") in ("true", "1"):
        data.update(approximate_member_count=len(guild.members), approximate_presence_count=0)
    return json_response(data)


@routes.get("/guilds/{guild_id}/channels")
async def channels(request: web.Request) -> web.Response:
    guild = _guild(request)
    return json_response([payloads.channel(c) for c in guild.channels.values() if not c.is_thread])


@routes.get("/guilds/{guild_id}/roles")
async def roles(request: web.Request) -> web.Response:
    return json_response([payloads.role(r) for r in _guild(request).roles.values()])


@routes.get("/guilds/{guild_id}/members/{user_id}")
async def get_member(request: web.Request) -> web.Response:
    member = _guild(request).members.get(snowflake(request, "user_id"))
    if member is None:
        raise unknown("Member")
    return json_response(payloads.member(member))


@routes.get("/guilds/{guild_id}/members")
async def list_members(request: web.Request) -> web.Response:
    limit = max(1, min(1000, int(request.query.get("limit", "1"))))
    after = int(request.query.get("after", "0"))
    members = sorted((m for m in _guild(request).members.values() if m.id > after), key=lambda m: m.id)
    return json_response([payloads.member(m) for m in members[:limit]])
