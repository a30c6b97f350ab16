"""Admin commands (/health, /cache-clear) and the background health monitor they report on.

The cog runs the monitor (its only starter and stopper) because one probe needs the Discord client
(gateway latency) and the alerts go to a Discord channel; the probes and their bookkeeping live in
services/health and services/probes.py. With several processes, every process probes its own
gateway connection, the leader probes the services and posts the alerts (for changes any process
saw), so each alert is posted once.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time

import discord
from discord import app_commands
from discord.ext import commands

from bot import Bot
from discord_ui.health import HealthReport, alert_text, health_embed
from discord_ui.permissions import may_administer_bot
from discord_ui.ui import NO_MENTIONS, reply
from services.errors import TransientError
from services.health.monitor import Probe, ProbeResult, worth_alerting
from services.shards import gateway_service
from services.storage import ServiceHealth

log = logging.getLogger(__name__)

MAX_QUEUED_ALERTS = 100


class Admin(commands.Cog):
    def __init__(self, bot: Bot) -> None:
        self.bot = bot
        self.monitor = bot.services.monitor
        self.coordinator = bot.services.coordinator
        self.gateway = gateway_service(bot.settings.home_shards)
        self.started_at = time.time()
        self._connected = asyncio.Event()
        self._alerts: asyncio.Queue[str] = asyncio.Queue(MAX_QUEUED_ALERTS)
        self._alert_task: asyncio.Task[None] | None = None
        self._unsubscribe = lambda: None
        self._last_refresh: float | None = None  # time.monotonic() of the last refresh:true round

    async def cog_load(self) -> None:
        if self.bot.is_ready():  # reloaded while connected: no on_connect will come
            self._connected.set()
        self.monitor.add_probe(Probe(self.gateway, self.probe_gateway, local=True))
        if self.bot.settings.health_alert_channel_id:
            self.bot.services.health.add_listener(self._queue_alert, everywhere=True)
            self._unsubscribe = lambda: self.bot.services.health.remove_listener(self._queue_alert)
            self._alert_task = asyncio.create_task(self._post_alerts(), name="health-alerts")
        self.monitor.start()

    async def cog_unload(self) -> None:
        await self.monitor.stop()
        self.monitor.remove_probe(self.gateway)
        self._unsubscribe()
        if self._alert_task is not None:
            self._alert_task.cancel()
            try:
                await self._alert_task
            except asyncio.CancelledError:
                pass

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        """These act on the whole bot (internal hosts, errors, usage, everyone's cache): its owners, or
        administrators of the servers in ADMIN_GUILD_IDS; an administrator of any other server is refused."""
        settings = self.bot.settings
        if may_administer_bot(interaction, settings.bot_owner_ids, settings.admin_guild_ids):
            return True
        log.info("Refused /%s to %s (%s) in guild %s: not a bot owner or an administrator of an admin server",
                 interaction.command.name if interaction.command else "?", interaction.user, interaction.user.id,
                 interaction.guild_id)
        raise app_commands.CheckFailure("Only the bot's owners (and administrators of the servers it is run "
                                        "from) can use this.")

    # --- gateway -------------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    @commands.Cog.listener()
    async def on_connect(self) -> None:
        self._connected.set()

    @commands.Cog.listener()
    async def on_resumed(self) -> None:
        self._connected.set()

    @commands.Cog.listener()
    async def on_disconnect(self) -> None:
        self._connected.clear()

    async def probe_gateway(self) -> ProbeResult:
        """Heartbeat latency; waits a little for a connection in progress (the first round at start-up)."""
        if not self._connected.is_set():
            try:
                async with asyncio.timeout(self.monitor.timeout / 2):
                    await self._connected.wait()
            except TimeoutError:
                raise TransientError(self.gateway, "not connected to the Discord gateway") from None
        latency = self.bot.latency
        if not math.isfinite(latency):
            return ProbeResult("degraded", "connected, no heartbeat acknowledged yet")
        return ProbeResult("healthy", latency_ms=latency * 1000)

    # --- alerts --------------------------------------------------------------------------------

    async def _queue_alert(self, old: ServiceHealth | None, new: ServiceHealth) -> None:
        """Called inside the request that changed the state: queue only, never wait for Discord.
        Only the leader posts (it hears the other processes' changes too)."""
        if not worth_alerting(old, new) or not self.coordinator.is_leader:
            return
        try:
            self._alerts.put_nowait(alert_text(old, new, self.bot.settings.secrets()))
        except asyncio.QueueFull:
            log.warning("Health alert for %s dropped: %d alerts already waiting", new.service, MAX_QUEUED_ALERTS)

    async def _post_alerts(self) -> None:
        await self.bot.wait_until_ready()
        while True:
            await self._post(await self._alerts.get())

    async def _post(self, text: str) -> None:
        channel_id = self.bot.settings.health_alert_channel_id
        assert channel_id is not None
        try:
            channel = self.bot.get_channel(channel_id) or await self.bot.fetch_channel(channel_id)
            if not isinstance(channel, discord.abc.Messageable):
                log.warning("HEALTH_ALERT_CHANNEL_ID %s is not a text channel; alert not posted: %s", channel_id, text)
                return
            await channel.send(text, allowed_mentions=NO_MENTIONS)
        except (discord.HTTPException, discord.InvalidData) as exc:
            log.warning("Could not post a health alert to channel %s: %s", channel_id, exc)

    # --- commands ------------------------------------------------------------------------------

    @app_commands.command(name="health", description="Every service's state at a glance")
    @app_commands.describe(refresh="Probe every service now instead of showing the last results")
    @app_commands.default_permissions(administrator=True)
    async def health(self, interaction: discord.Interaction, refresh: bool = False) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        note = None
        if refresh:
            wait = self._refresh_wait()
            if wait > 0:  # a probe round hits every service: not on every click
                note = f"Probed {self.bot.settings.health_refresh_cooldown - wait:.0f} s ago; showing those " \
                       f"results (next refresh possible in {math.ceil(wait)} s)."
            else:
                self._last_refresh = time.monotonic()
                log.info("/health refresh by %s (%s)", interaction.user, interaction.user.id)
                await self.monitor.run_once(everything=True)
        await reply(interaction, note, embed=await self.health_embed(interaction.guild_id), ephemeral=True)

    def _refresh_wait(self) -> float:
        """Seconds until the next refresh:true may probe (HEALTH_REFRESH_COOLDOWN after the last one)."""
        if self._last_refresh is None:
            return 0.0
        return max(0.0, self._last_refresh + self.bot.settings.health_refresh_cooldown - time.monotonic())

    async def health_embed(self, guild_id: int | None = None) -> discord.Embed:
        services = self.bot.services
        stored = {h.service: h for h in await services.health.all()}
        for name in self.monitor.services:  # never probed yet: still listed
            stored.setdefault(name, ServiceHealth(name))
        latency = self.bot.latency
        now = time.time()
        return health_embed(HealthReport(
            rows=list(stored.values()), now=now, is_stale=lambda h: self.monitor.is_stale(h, now),
            cache=await services.cache.stats(), usage=await services.llm.usage.for_day(),
            uptime_s=now - self.started_at,
            gateway_ms=latency * 1000 if self._connected.is_set() and math.isfinite(latency) else None,
            database_bytes=await services.backend.size_bytes(), interval=self.monitor.interval,
            last_round_at=self.monitor.last_round_at, secrets=self.bot.settings.secrets(),
            database=services.backend.kind, process=await self.process_line(),
            quotas=await services.limits.quotas.summary(guild_id),
            labels={services.search.web.service: f"{services.search.web.service} ({services.search.web.engine})"}))

    async def process_line(self) -> str | None:
        """Which process answered and which one leads, when several share the database."""
        if not self.bot.services.backend.shared:
            return None
        leader = await self.coordinator.leader_name()
        lead = "this one" if self.coordinator.is_leader else (leader or "none right now")
        return f"{self.coordinator.name}; leader: {lead}"

    @app_commands.command(name="cache-clear", description="Empty the cache, or one namespace of it")
    @app_commands.describe(namespace="Only this namespace (e.g. search:web); empty = everything")
    @app_commands.default_permissions(administrator=True)
    async def cache_clear(self, interaction: discord.Interaction, namespace: str | None = None) -> None:
        removed = await self.bot.services.cache.clear(namespace.strip() if namespace else None)
        what = f"namespace `{discord.utils.escape_markdown(namespace)}`" if namespace else "the whole cache"
        log.info("%s cleared %s (%d entries)", interaction.user, what, removed)
        await reply(interaction, f"Cleared {what}: {removed} entries removed.", ephemeral=True)

    @cache_clear.autocomplete("namespace")
    async def _namespaces(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        names = await self.bot.services.cache.namespaces()
        return [app_commands.Choice(name=n, value=n) for n in names if current.lower() in n.lower()][:25]


async def setup(bot: Bot) -> None:
    await bot.add_cog(Admin(bot))
