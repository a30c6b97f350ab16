"""Admin commands: /health shows every service's state at a glance; /cache-clear empties the cache."""

from __future__ import annotations

import logging
import time

import discord
from discord import app_commands
from discord.ext import commands

from bot import Bot
from cogs._ui import is_bot_admin, reply
from services.storage import CacheStats, ServiceHealth

log = logging.getLogger(__name__)

STATUS_ICON = {"healthy": "🟢", "degraded": "🟡", "down": "🔴", "disabled": "⚪", "unknown": "❔"}


def _ago(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f}s ago"
    if seconds < 5400:
        return f"{seconds / 60:.0f}m ago"
    return f"{seconds / 3600:.1f}h ago"


def health_line(h: ServiceHealth, now: float, stale_after: float) -> str:
    """One service on one line: status, latency, age, circuit and the last error."""
    stale = h.checked_at and now - h.checked_at > stale_after
    parts = [f"{STATUS_ICON.get(h.status, '❔')} **{h.service}** {h.status}"]
    if h.latency_ms is not None and h.status != "disabled":
        parts.append(f"{h.latency_ms:.0f} ms")
    if h.checked_at:
        parts.append(_ago(now - h.checked_at) + (" (stale)" if stale else ""))
    if h.circuit_state != "closed":
        parts.append(f"circuit {h.circuit_state.replace('_', '-')}")
    if h.consecutive_failures:
        parts.append(f"{h.consecutive_failures} failures")
    line = " · ".join(parts)
    if h.last_error and h.status in ("degraded", "down"):
        line += f"\n  └ {discord.utils.escape_markdown(h.last_error[:150])}"
    elif h.status == "disabled" and h.detail:
        line += f" ({h.detail[:80]})"
    return line


def cache_line(stats: CacheStats) -> str:
    rate = f"{stats.hit_rate:.0%}" if stats.hit_rate is not None else "n/a"
    return f"{stats.entries} entries · hit rate {rate} ({stats.hits} hits, {stats.misses} misses)"


class Admin(commands.Cog):
    def __init__(self, bot: Bot) -> None:
        self.bot = bot
        self.started_at = time.time()

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        if is_bot_admin(interaction, self.bot.settings.bot_owner_ids):
            return True
        raise app_commands.CheckFailure("Only server administrators and the bot's owners can use this.")

    @app_commands.command(name="health", description="Every service's state at a glance")
    @app_commands.default_permissions(administrator=True)
    async def health(self, interaction: discord.Interaction) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        services = self.bot.services
        now = time.time()
        stale_after = 2 * self.bot.settings.health_check_interval
        rows = await services.health.all()
        lines = [health_line(h, now, stale_after) for h in rows] or ["No service has been checked yet."]
        embed = discord.Embed(title="Bot health", description="\n".join(lines)[:4000], colour=_colour(rows))
        embed.add_field(name="Cache", value=cache_line(await services.cache.stats()), inline=False)
        latency = self.bot.latency
        embed.add_field(name="Gateway", value=f"{latency * 1000:.0f} ms" if latency == latency else "n/a")
        embed.add_field(name="Uptime", value=_duration(now - self.started_at))
        embed.add_field(name="Database", value=f"{await services.db.size_bytes() / 1e6:.1f} MB")
        await reply(interaction, embed=embed, ephemeral=True)

    @app_commands.command(name="cache-clear", description="Empty the cache, or one namespace of it")
    @app_commands.describe(namespace="Only this namespace (e.g. search:web); empty = everything")
    @app_commands.default_permissions(administrator=True)
    async def cache_clear(self, interaction: discord.Interaction, namespace: str | None = None) -> None:
        removed = await self.bot.services.cache.clear(namespace.strip() if namespace else None)
        what = f"namespace `{namespace}`" if namespace else "the whole cache"
        log.info("%s cleared %s (%d entries)", interaction.user, what, removed)
        await reply(interaction, f"Cleared {what}: {removed} entries removed.", ephemeral=True)

    @cache_clear.autocomplete("namespace")
    async def _namespaces(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        names = await self.bot.services.cache.namespaces()
        return [app_commands.Choice(name=n, value=n) for n in names if current.lower() in n.lower()][:25]


def _colour(rows: list[ServiceHealth]) -> discord.Colour:
    statuses = {h.status for h in rows}
    if "down" in statuses:
        return discord.Colour.red()
    if "degraded" in statuses:
        return discord.Colour.gold()
    return discord.Colour.green()


def _duration(seconds: float) -> str:
    hours, rem = divmod(int(seconds), 3600)
    return f"{hours}h {rem // 60}m" if hours else f"{rem // 60}m {rem % 60}s"


async def setup(bot: Bot) -> None:
    await bot.add_cog(Admin(bot))
