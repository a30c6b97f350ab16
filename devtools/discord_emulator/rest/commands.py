"""Application commands, global and per guild: bulk overwrite (what tree.sync() does) and single edits."""

from __future__ import annotations

from aiohttp import web

from devtools.discord_emulator.errors import unknown
from devtools.discord_emulator.records import CommandSync
from devtools.discord_emulator.rest.util import core, json_body, json_response, no_content, snowflake

routes = web.RouteTableDef()
GLOBAL = "/applications/{application_id}/commands"
GUILD = "/applications/{application_id}/guilds/{guild_id}/commands"


def _scope(request: web.Request) -> int | None:
    c = core(request)
    if snowflake(request, "application_id") != c.world.application.id:
        raise unknown("application command")  # Discord: 403 for someone else's app; close enough for tests
    if "guild_id" not in request.match_info:
        return None
    guild_id = snowflake(request, "guild_id")
    if guild_id not in c.world.guilds:
        raise unknown("Guild")
    return guild_id


async def _list(request: web.Request) -> web.Response:
    return json_response(core(request).commands.commands(_scope(request)))


async def _overwrite(request: web.Request) -> web.Response:
    c = core(request)
    guild_id = _scope(request)
    stored = c.commands.overwrite(guild_id, await json_body(request))
    c.records.command_syncs.append(CommandSync(guild_id, stored, c.clock.monotonic()))
    c.notifier.notify()
    return json_response(stored)


async def _create(request: web.Request) -> web.Response:
    c = core(request)
    guild_id = _scope(request)
    existed = {cmd["id"] for cmd in c.commands.commands(guild_id)}
    stored = c.commands.upsert(guild_id, await json_body(request))
    c.notifier.notify()
    return json_response(stored, 200 if stored["id"] in existed else 201)


async def _get(request: web.Request) -> web.Response:
    return json_response(core(request).commands.get(_scope(request), snowflake(request, "command_id")))


async def _edit(request: web.Request) -> web.Response:
    c = core(request)
    stored = c.commands.edit(_scope(request), snowflake(request, "command_id"), await json_body(request))
    c.notifier.notify()
    return json_response(stored)


async def _delete(request: web.Request) -> web.Response:
    core(request).commands.delete(_scope(request), snowflake(request, "command_id"))
    return no_content()


for prefix in (GLOBAL, GUILD):
    routes.get(prefix)(_list)
    routes.put(prefix)(_overwrite)
    routes.post(prefix)(_create)
    routes.get(prefix + "/{command_id}")(_get)
    routes.patch(prefix + "/{command_id}")(_edit)
    routes.delete(prefix + "/{command_id}")(_delete)
