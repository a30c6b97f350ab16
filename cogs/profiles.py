"""/persona and /model: the system prompt and the provider:model chain of this channel or the whole server
(services/chat/profiles.py). Manage Server, checked at run time too (a server may override the
command's default permissions). Without options each shows the effective value and where it comes
from; `reset` clears the value of the scope. A server's profiles are forgotten when the bot leaves it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Literal

import discord
from discord import app_commands
from discord.ext import commands

from bot import Bot
from discord_ui.escape import inert
from discord_ui.turns import channel_ids
from discord_ui.ui import reply
from services.chat.profiles import Effective, ProfileError, Scope
from services.errors import ServiceError

log = logging.getLogger(__name__)

ScopeChoice = Literal["channel", "server"]
MODELS_TTL = 60.0  # seconds a provider's model list is reused for autocomplete
SHOWN_PERSONA = 1500
NOT_ALLOWED = "Only members with Manage Server can see or change the chat {what} here."


def origin(effective: Effective[object]) -> str:
    return {"channel": f"set on <#{effective.scope_id}>", "server": "set for the whole server",
            "default": "the bot's default"}[effective.source]


class Profiles(commands.Cog):
    def __init__(self, bot: Bot) -> None:
        self.bot = bot
        self.store = bot.services.profiles
        self.llm = bot.services.llm
        self._models: dict[str, tuple[float, list[str]]] = {}

    async def _gate(self, interaction: discord.Interaction, what: str) -> int | None:
        """The server's id when the member may manage its chat profiles; else they are told why not."""
        if interaction.guild_id is None or interaction.channel_id is None:
            await reply(interaction, "Personas and models are set per server channel; use this in a server.",
                        ephemeral=True)
            return None
        if not interaction.permissions.manage_guild:
            await reply(interaction, NOT_ALLOWED.format(what=what), ephemeral=True)
            return None
        return interaction.guild_id

    @staticmethod
    def _target(interaction: discord.Interaction, scope: ScopeChoice) -> tuple[Scope, int, str]:
        if scope == "server":
            assert interaction.guild_id is not None
            return "guild", interaction.guild_id, "the whole server"
        assert interaction.channel_id is not None
        return "channel", interaction.channel_id, f"<#{interaction.channel_id}>"

    # --- /persona ---------------------------------------------------------------------------------

    @app_commands.command(name="persona", description="The chat's system prompt for this channel or server")
    @app_commands.describe(text="The new system prompt (how the bot should behave)", scope="Where it applies",
                           reset="Forget the value set for this scope")
    @app_commands.default_permissions(manage_guild=True)
    @app_commands.guild_only()
    async def persona(self, interaction: discord.Interaction, text: str | None = None,
                      scope: ScopeChoice = "channel", reset: bool = False) -> None:
        guild_id = await self._gate(interaction, "persona")
        if guild_id is None:
            return
        kind, scope_id, where = self._target(interaction, scope)
        if text is None and not reset:
            current = await self.store.persona(guild_id, channel_ids(interaction.channel, interaction.channel_id))
            shown = current.value if len(current.value) <= SHOWN_PERSONA else current.value[:SHOWN_PERSONA] + "…"
            await reply(interaction, f"**Persona** here ({origin(current)}):\n>>> {inert(shown) or '(none)'}",
                        ephemeral=True)
            return
        try:
            await self.store.set_persona(kind, scope_id, guild_id, None if reset else text, by=interaction.user.id)
        except ProfileError as exc:
            await reply(interaction, str(exc), ephemeral=True)
            return
        log.info("Persona of %s %s %s by %s", kind, scope_id, "reset" if reset else "set", interaction.user.id)
        done = "reset (it follows the server or the default again)" if reset else "set"
        await reply(interaction, f"Persona for {where} {done}.", ephemeral=True)

    # --- /model -----------------------------------------------------------------------------------

    @app_commands.command(name="model", description="The chat's models (provider:model, tried in order) here")
    @app_commands.describe(chain="provider:model, then fallbacks separated by commas", scope="Where it applies",
                           reset="Forget the value set for this scope")
    @app_commands.default_permissions(manage_guild=True)
    @app_commands.guild_only()
    async def model(self, interaction: discord.Interaction, chain: str | None = None,
                    scope: ScopeChoice = "channel", reset: bool = False) -> None:
        guild_id = await self._gate(interaction, "model")
        if guild_id is None:
            return
        kind, scope_id, where = self._target(interaction, scope)
        if chain is None and not reset:
            current = await self.store.chain(guild_id, channel_ids(interaction.channel, interaction.channel_id))
            names = " → ".join(f"`{p}:{m}`" for p, m in current.value) or "(none)"
            await reply(interaction, f"**Model** here ({origin(current)}): {names}", ephemeral=True)
            return
        await interaction.response.defer(ephemeral=True, thinking=True)  # listing models may take a moment
        try:
            refs = () if reset or chain is None else self.store.parse_chain(chain)
            if problem := await self._unknown_models(refs):
                raise ProfileError(problem)
            stored = await self.store.set_chain(kind, scope_id, guild_id, None if reset else chain,
                                                by=interaction.user.id)
        except ProfileError as exc:
            await reply(interaction, str(exc), ephemeral=True)
            return
        log.info("Model chain of %s %s %s by %s", kind, scope_id, "reset" if reset else "set", interaction.user.id)
        if reset:
            await reply(interaction, f"Model for {where} reset (it follows the server or the default again).",
                        ephemeral=True)
        else:
            await reply(interaction, f"Model for {where} set: {' → '.join(f'`{p}:{m}`' for p, m in stored)}.",
                        ephemeral=True)

    async def _unknown_models(self, refs: tuple[tuple[str, str], ...]) -> str | None:
        """A sentence naming a model its provider does not list; None when all are listed (or a provider
        cannot be asked now: the chain is then stored as given, and the router skips what fails)."""
        for provider, model in refs:
            names = await self._list(provider)
            if names and model not in names and f"{model}:latest" not in names:
                return f"{provider} has no model {model!r}; it lists: {', '.join(names[:10])}."
        return None

    async def _list(self, provider: str) -> list[str]:
        cached = self._models.get(provider)
        if cached and time.monotonic() - cached[0] < MODELS_TTL:
            return cached[1]
        try:
            names = await asyncio.wait_for(self.llm.list_models(provider), timeout=2.5)
        except (ServiceError, TimeoutError) as exc:
            log.info("Could not list the models of %s: %s", provider, exc)
            return []
        self._models[provider] = (time.monotonic(), names)
        return names

    @model.autocomplete("chain")
    async def _chain_choices(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        """Completes the last entry of the chain from what the configured providers list."""
        head, _, last = current.rpartition(",")
        prefix = f"{head}, " if head else ""
        last = last.strip().lower()
        found: list[str] = []
        lists = await asyncio.gather(*(self._list(p) for p in self.store.providers))
        for provider, names in zip(self.store.providers, lists, strict=True):
            found += [f"{provider}:{n}" for n in names if last in f"{provider}:{n}".lower()]
        return [app_commands.Choice(name=(prefix + f)[:100], value=(prefix + f)[:100]) for f in found[:25]]

    @commands.Cog.listener()
    async def on_guild_remove(self, guild: discord.Guild) -> None:
        removed = await self.store.forget_guild(guild.id)
        if removed:
            log.info("Forgot %d chat profiles of server %s (the bot left it)", removed, guild.id)


async def setup(bot: Bot) -> None:
    await bot.add_cog(Profiles(bot))
