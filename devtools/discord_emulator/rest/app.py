"""The aiohttp application: REST under /api/v10, the gateway websocket, attachment downloads.

One middleware does what Discord's edge does for every API call: bot-token check, the 429s a test
asked for (with Discord's headers and body), error bodies, rate-limit headers, and a record of the call.
"""

from __future__ import annotations

import hashlib
import logging
import math
import traceback
from collections.abc import Awaitable, Callable

from aiohttp import web

from devtools.discord_emulator.core import API_PREFIX, CORE, Core
from devtools.discord_emulator.errors import DiscordError, not_found, unauthorized
from devtools.discord_emulator.ratelimit import RateLimitRule
from devtools.discord_emulator.records import RequestRecord
from devtools.discord_emulator.rest import channels, commands, guilds, interactions, users
from devtools.discord_emulator.rest.util import error_response, json_response

log = logging.getLogger(__name__)
UNAUTHENTICATED = ("/interactions/", "/webhooks/")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def build_app(core: Core) -> web.Application:
    app = web.Application(middlewares=[discord_edge], client_max_size=64 * 1024 * 1024)
    app[CORE] = core
    app.router.add_get("/gateway", core.gateway.handle)
    app.router.add_get("/attachments/{attachment_id}/{filename}", attachment)
    for table in (users.routes, guilds.routes, channels.routes, commands.routes, interactions.routes):
        for route in table:
            assert isinstance(route, web.RouteDef)
            app.router.add_route(route.method, API_PREFIX + route.path, route.handler)
    return app


async def attachment(request: web.Request) -> web.StreamResponse:
    attachment_id = request.match_info["attachment_id"]
    found = request.app[CORE].attachment(int(attachment_id)) if attachment_id.isdigit() else None
    if found is None:
        raise web.HTTPNotFound()
    return web.Response(body=found.data, content_type=found.content_type or "application/octet-stream")


def _bucket(method: str, template: str) -> str:
    return hashlib.sha1(f"{method} {template}".encode()).hexdigest()[:16]


@web.middleware
async def discord_edge(request: web.Request, handler: Handler) -> web.StreamResponse:
    if not request.path.startswith(API_PREFIX + "/"):
        return await handler(request)
    core = request.app[CORE]
    path = request.path[len(API_PREFIX):]
    resource = request.match_info.route.resource
    template = resource.canonical[len(API_PREFIX):] if resource is not None else path
    rule = core.rate_limits.take(request.method, template, path)
    if rule is not None:
        response = _rate_limited(core, rule, request.method, template)
        entry = RequestRecord(request.method, path, template, 429, core.clock.monotonic(), dict(request.query))
        core.records.requests.append(entry)
        core.records.rate_limited.append(entry)
        core.notifier.notify()
        return response
    try:
        if not path.startswith(UNAUTHENTICATED) and request.headers.get("Authorization") != f"Bot {core.token}":
            raise unauthorized()
        response = await handler(request)
    except DiscordError as exc:
        response = error_response(exc)
    except web.HTTPNotFound:
        core.records.problems.append(f"the emulator has no route for {request.method} {path}")
        response = error_response(not_found())
    except web.HTTPMethodNotAllowed:
        core.records.problems.append(f"the emulator has no route for {request.method} {path}")
        response = json_response({"message": "405: Method Not Allowed", "code": 0}, 405)
    except Exception as exc:  # an emulator bug: record it (the test fails) and answer 400 so the client does not retry
        core.records.problems.append(f"emulator error on {request.method} {path}:\n{traceback.format_exc()}")
        log.exception("emulator error on %s %s", request.method, path)
        response = json_response({"message": f"emulator error: {exc!r}", "code": 0}, 400)
    if response.status != 429:
        now = core.clock.time()
        response.headers.update({
            "X-RateLimit-Bucket": _bucket(request.method, template), "X-RateLimit-Limit": "50",
            "X-RateLimit-Remaining": "49", "X-RateLimit-Reset": f"{now + 1:.3f}", "X-RateLimit-Reset-After": "1.000",
            "Via": "1.1 google",
        })
    core.records.requests.append(RequestRecord(request.method, path, template, response.status,
                                               core.clock.monotonic(), dict(request.query)))
    core.notifier.notify()
    hold = core.holds.find(request.method, template, path) if response.status < 400 else None
    if hold is not None:  # done, but the client waits for the answer until the test releases it
        hold.held += 1
        core.notifier.notify()
        await hold.released.wait()
    return response


def _rate_limited(core: Core, rule: RateLimitRule, method: str, template: str) -> web.Response:
    response = json_response({"message": "You are being rate limited.", "retry_after": rule.retry_after,
                              "global": rule.is_global}, 429)
    response.headers.update({
        "Retry-After": str(max(1, math.ceil(rule.retry_after))), "X-RateLimit-Limit": "5",
        "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": f"{core.clock.time() + rule.retry_after:.3f}",
        "X-RateLimit-Reset-After": f"{rule.retry_after:.3f}", "X-RateLimit-Bucket": _bucket(method, template),
        "X-RateLimit-Scope": "global" if rule.is_global else "user", "Via": "1.1 google",
    })
    if rule.is_global:
        response.headers["X-RateLimit-Global"] = "true"
    return response
