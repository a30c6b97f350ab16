"""Helpers every route module uses: exact JSON responses, request bodies, lookups with Discord's errors."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from devtools.discord_emulator import permissions as perms
from devtools.discord_emulator.core import CORE, Core
from devtools.discord_emulator.errors import DiscordError, missing_access, missing_permissions, unknown
from devtools.discord_emulator.messaging import UploadedFile
from devtools.discord_emulator.world import Channel, Guild


def core(request: web.Request) -> Core:
    return request.app[CORE]


def json_response(data: Any, status: int = 200) -> web.Response:
    """Content-Type exactly `application/json`: discord.py parses nothing else (no `; charset=utf-8`)."""
    return web.Response(body=json.dumps(data).encode(), status=status, headers={"Content-Type": "application/json"})


def no_content() -> web.Response:
    return web.Response(status=204)


def error_response(error: DiscordError) -> web.Response:
    return json_response(error.body(), error.status)


def snowflake(request: web.Request, name: str) -> int:
    raw = request.match_info[name]
    if not raw.isdigit():
        raise DiscordError(400, 50035, "Invalid Form Body",
                           {name: {"_errors": [{"code": "NUMBER_TYPE_COERCE",
                                                "message": f"Value \"{raw}\" is not snowflake."}]}})
    return int(raw)


async def json_body(request: web.Request) -> Any:
    text = await request.text()
    if not text:
        return {}
    try:
        return json.loads(text)
    except ValueError:
        raise DiscordError(400, 50109, "The request body contains invalid JSON.") from None


async def message_body(request: web.Request) -> tuple[dict[str, Any], list[UploadedFile]]:
    """JSON, or multipart with `payload_json` and `files[n]` parts (how discord.py uploads files)."""
    if request.content_type != "multipart/form-data":
        return await json_body(request), []
    body: dict[str, Any] = {}
    files: list[UploadedFile] = []
    reader = await request.multipart()
    while (part := await reader.next()) is not None:
        name = part.name or ""
        if name == "payload_json":
            try:
                body = json.loads(await part.text())
            except ValueError:
                raise DiscordError(400, 50109, "The request body contains invalid JSON.") from None
        elif name.startswith("files[") and name.endswith("]") and name[6:-1].isdigit():
            files.append(UploadedFile(int(name[6:-1]), part.filename or "unknown", await part.read(),
                                      part.headers.get("Content-Type")))
    return body, files


def bot_channel(core: Core, channel_id: int, *, need: int = 0) -> tuple[Guild | None, Channel]:
    """The channel if the bot can see it (403 50001 otherwise) and has the permissions in `need` (50013)."""
    found = core.world.find_channel(channel_id)
    if found is None:
        raise unknown("Channel")
    guild, channel = found
    granted = core.world.permissions(core.world.bot_user, channel)
    if not granted & perms.VIEW_CHANNEL:
        raise missing_access()
    if need & ~granted:
        raise missing_permissions()
    return guild, channel
