"""The Discord bot: owns the services, loads the cogs, syncs slash commands, closes cleanly."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

import aiohttp
import discord
from discord import app_commands
from discord.ext import commands

from config.settings import Settings
from discord_ui.global_limit import pace_requests, share_of
from discord_ui.metrics import AckTracker
from discord_ui.routing import connector
from discord_ui.ui import reply
from services.container import Services
from services.storage.backend import Backend

log = logging.getLogger(__name__)

# Every extension the bot loads, in order. A new cog is added here, not discovered by file name.
EXTENSIONS = ("cogs.admin", "cogs.chat", "cogs.profiles", "cogs.search", "cogs.reminders", "cogs.voice",
              "cogs.privacy", "cogs.metrics")


def build_intents(settings: Settings) -> discord.Intents:
    intents = discord.Intents.default()  # includes moderation: bans cancel the banned member's reminders
    intents.message_content = True  # mentions and replies are answered; privileged, see README
    intents.members = settings.discord_members_intent  # privileged: leaves are seen at once (see README)
    return intents


class BotTree(app_commands.CommandTree):
    """Every slash command error ends in a short answer to the user and a log line with the cause.
    Commands from a server outside ALLOWED_GUILD_IDS are refused (the bot is leaving it)."""

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        client = interaction.client
        if interaction.guild_id is not None and isinstance(client, Bot) and not client.serves(interaction.guild_id):
            raise app_commands.CheckFailure("This bot does not serve this server.")
        return True

    async def on_error(self, interaction: discord.Interaction, error: app_commands.AppCommandError) -> None:
        command = interaction.command.qualified_name if interaction.command else "?"
        if isinstance(error, app_commands.CommandOnCooldown):
            outcome, message = "cooldown", f"Slow down: try again in {error.retry_after:.0f} s."
        elif isinstance(error, app_commands.CheckFailure):
            outcome, message = "refused", str(error) or "You can't use this command here."
        else:
            cause = error.__cause__ or error
            outcome = "error"
            log.error("Command /%s failed: %s", command, cause, exc_info=cause)
            message = "Something went wrong on my side; the error was logged for the bot's admins."
        if isinstance(self.client, Bot):
            self.client.services.metrics.interaction(command, outcome)
        try:
            await reply(interaction, message, ephemeral=True)
        except discord.HTTPException as exc:
            log.warning("Could not tell the user about the error: %s", exc)


class Bot(commands.AutoShardedBot):
    """The session and database are the caller's (main opens and closes them); the bot builds the
    services on them and closes those. Call discord_ui.routing.route_discord(settings) first.

    Sharded as SHARD_COUNT and SHARD_IDS say (this process answers only its shards' servers, and DMs
    with shard 0), or as Discord recommends when SHARD_COUNT is 0. Slash commands are synced by
    the process that runs shard 0 only.
    """

    def __init__(self, settings: Settings, session: aiohttp.ClientSession, backend: Backend, *,
                 extensions: Sequence[str] = EXTENSIONS, sync_commands: bool = True) -> None:
        home = settings.home_shards
        sharding = {"shard_count": home.count, "shard_ids": home.sorted_ids()} if settings.shard_count else {}
        services = Services(settings, session, backend)
        acks = AckTracker(services.metrics)
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=build_intents(settings),
            allowed_mentions=discord.AllowedMentions.none(),
            connector=connector(settings),
            help_command=None,
            owner_ids=set(settings.bot_owner_ids) or None,
            tree_cls=BotTree,
            http_trace=acks.trace_config(),
            **sharding,
        )
        self.settings = settings
        self.services = services
        self.acks = acks
        self.extensions_to_load = list(extensions)
        self.failed_extensions: dict[str, str] = {}
        self.sync_commands = sync_commands and 0 in home.ids
        share = share_of(settings.discord_global_rate_limit, home) if settings.shard_count else None
        self.rest_pace = pace_requests(self, share) if share is not None else None
        self._closing: asyncio.Future[None] | None = None

    async def setup_hook(self) -> None:
        await self.services.start()
        for name in self.extensions_to_load:
            try:
                await self.load_extension(name)
            except commands.ExtensionError as exc:
                cause = exc.__cause__ or exc
                self.failed_extensions[name] = f"{type(cause).__name__}: {cause}"
                log.error("Could not load %s: %s", name, self.failed_extensions[name], exc_info=cause)
        log.info("Loaded cogs: %s", ", ".join(self.extensions) or "none")
        if self.sync_commands:
            await self.sync_app_commands()
        elif 0 not in self.settings.home_shards.ids:
            log.info("Slash commands are synced by the process running shard 0, not this one (%s)",
                     self.settings.home_shards.describe())

    async def sync_app_commands(self) -> None:
        """Guild sync is instant (development); global sync can take up to an hour to show."""
        try:
            if self.settings.discord_guild_id:
                guild = discord.Object(self.settings.discord_guild_id)
                self.tree.copy_global_to(guild=guild)
                synced = await self.tree.sync(guild=guild)
                log.info("Synced %d slash commands to guild %s", len(synced), guild.id)
            else:
                synced = await self.tree.sync()
                log.info("Synced %d slash commands globally", len(synced))
        except discord.HTTPException as exc:
            log.error("Slash command sync failed (HTTP %s): %s; the old commands stay", exc.status, exc.text)

    async def on_message(self, message: discord.Message) -> None:
        """No prefix commands: messages go only to the cogs' listeners (chat answers mentions)."""

    async def on_ready(self) -> None:
        log.info("Connected as %s (%s) to %d guilds on %s", self.user, getattr(self.user, "id", "?"), len(self.guilds),
                 self.settings.home_shards.describe() if self.settings.shard_count else f"{self.shard_count} shard(s)")
        for guild in list(self.guilds):
            await self._leave_if_not_allowed(guild)

    async def on_guild_join(self, guild: discord.Guild) -> None:
        log.info("Joined guild %s (%s)", guild.name, guild.id)
        await self._leave_if_not_allowed(guild)

    def serves(self, guild_id: int) -> bool:
        """ALLOWED_GUILD_IDS, when set, is the only servers the bot works in."""
        allowed = self.settings.allowed_guild_ids
        return not allowed or guild_id in allowed

    async def _leave_if_not_allowed(self, guild: discord.Guild) -> None:
        """A self-hosted bot does not serve strangers who invite it: it leaves servers not in ALLOWED_GUILD_IDS."""
        if self.serves(guild.id):
            return
        try:
            await guild.leave()
            log.warning("Left guild %s (%s): not in ALLOWED_GUILD_IDS", guild.name, guild.id)
        except discord.HTTPException as exc:
            log.error("Could not leave guild %s (%s), which is not in ALLOWED_GUILD_IDS: %s", guild.name, guild.id, exc)

    async def close(self) -> None:
        """Stop cogs and services, then disconnect; the session and database stay open for their owner.

        A signal handler and main's `finally` may both call this; both wait for the one real close.
        """
        if self._closing is None:
            self._closing = asyncio.ensure_future(self._close_once())
        await asyncio.shield(self._closing)

    async def _close_once(self) -> None:
        for name in list(self.extensions):
            try:
                await self.unload_extension(name)
            except commands.ExtensionError:
                log.exception("Error unloading %s", name)
        await self.services.close()
        await super().close()
