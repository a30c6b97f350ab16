"""Which Discord the process talks to: the real one, or another at given URLs (the local Discord).

discord.py has no option for this: REST URLs come from `Route.BASE` and the gateway from
`DiscordWebSocket.DEFAULT_GATEWAY`, both class attributes, so the choice is process-wide. The entry
point calls `route_discord` once before building the bot; it always sets both attributes (to the
settings' URLs or back to Discord's own), so whoever calls it last fully decides, and nothing needs
restoring afterwards.
"""

from __future__ import annotations

import ssl

import aiohttp
import discord
import yarl

from config.settings import Settings

DISCORD_API = "https://discord.com/api/v10"
DISCORD_GATEWAY = yarl.URL("wss://gateway.discord.gg/")


def route_discord(settings: Settings) -> None:
    """Point discord.py at DISCORD_API_BASE_URL / DISCORD_GATEWAY_URL, or at Discord when they are empty."""
    route_discord_to(settings.discord_api_base_url, settings.discord_gateway_url)


def route_discord_to(api_url: str = "", gateway_url: str = "") -> None:
    """The same with URLs (plain discord.py clients in the local Discord's own tests)."""
    discord.http.Route.BASE = api_url or DISCORD_API
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(gateway_url) if gateway_url else DISCORD_GATEWAY


def connector(settings: Settings) -> aiohttp.TCPConnector | None:
    """Trust an extra CA (the local Discord's voice TLS certificate) on top of the system's."""
    if not settings.discord_ca_file:
        return None
    context = ssl.create_default_context()
    context.load_verify_locations(settings.discord_ca_file)
    return aiohttp.TCPConnector(ssl=context)
