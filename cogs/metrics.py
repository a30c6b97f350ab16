"""Prometheus metrics (METRICS_PORT): serves /metrics and records what only Discord sees.

Off unless METRICS_PORT is set. The numbers themselves are kept in services.metrics; this cog adds
the slash command outcomes and answer times, each interaction's command name (for the acknowledgement
times discord_ui.metrics measures), and the event loop's lag.
"""

from __future__ import annotations

import asyncio
import logging
import time

import discord
from discord import app_commands
from discord.ext import commands

from bot import Bot
from services.metrics import MetricsServer

log = logging.getLogger(__name__)

LAG_INTERVAL = 0.25


class Metrics(commands.Cog):
    def __init__(self, bot: Bot) -> None:
        self.bot = bot
        self.metrics = bot.services.metrics
        s = bot.settings
        self.server = MetricsServer(self.metrics, s.metrics_host, s.metrics_port) if s.metrics_port else None
        self._lag: asyncio.Task[None] | None = None

    async def cog_load(self) -> None:
        if self.server is None:
            return
        try:
            await self.server.start()
        except OSError as exc:
            log.error("Metrics are off: cannot listen on %s:%d (%s)", self.server.host, self.server.port, exc)
            self.server = None
            return
        self._lag = asyncio.create_task(self._measure_lag(), name="metrics-loop-lag")

    async def cog_unload(self) -> None:
        if self._lag is not None:
            self._lag.cancel()
            await asyncio.gather(self._lag, return_exceptions=True)
        if self.server is not None:
            await self.server.stop()

    @commands.Cog.listener()
    async def on_interaction(self, interaction: discord.Interaction) -> None:
        if interaction.type is discord.InteractionType.application_command and interaction.command is not None:
            self.bot.acks.named(interaction.id, interaction.command.qualified_name)

    @commands.Cog.listener()
    async def on_app_command_completion(self, interaction: discord.Interaction,
                                        command: app_commands.Command | app_commands.ContextMenu) -> None:
        self.metrics.interaction(command.qualified_name, "ok")
        self.metrics.answer(f"/{command.qualified_name}", time.time() - interaction.created_at.timestamp())

    async def _measure_lag(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            started = loop.time()
            await asyncio.sleep(LAG_INTERVAL)
            self.metrics.loop_lag(loop.time() - started - LAG_INTERVAL)


async def setup(bot: Bot) -> None:
    await bot.add_cog(Metrics(bot))
