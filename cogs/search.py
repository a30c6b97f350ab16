"""/search, /wiki, /urban and /ask: thin renderers over services.search (and the LLM router for /ask)."""

from __future__ import annotations

import logging

import discord
from discord import app_commands
from discord.ext import commands

from bot import Bot
from discord_ui.errors import describe_failure
from discord_ui.escape import inert
from discord_ui.notice import InteractionNotice
from discord_ui.permissions import answers_publicly
from discord_ui.stream import StreamingReply, stream_answer
from discord_ui.ui import NO_MENTIONS, OwnerPager, reply
from services.chat.ask import gather_context
from services.errors import ServiceError
from services.search import InvalidQuery, UrbanDefinition, WebResult, WikiSummary, clean_query
from services.search.base import crosslink_parts

log = logging.getLogger(__name__)

EMBED_DESCRIPTION_LIMIT = 4096
FIELD_LIMIT = 1024


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _link_text(text: str) -> str:
    """Text safe inside [text](url): brackets would end the link early."""
    return discord.utils.escape_markdown(text).replace("[", "(").replace("]", ")")


def web_embed(query: str, results: list[WebResult], engine: str) -> discord.Embed:
    lines = []
    for i, r in enumerate(results, 1):
        lines.append(f"**{i}. [{_clip(_link_text(r.title), 200)}](<{r.url}>)**\n{_clip(discord.utils.escape_markdown(r.snippet), 300)}")
    description = _clip("\n\n".join(lines), EMBED_DESCRIPTION_LIMIT)
    embed = discord.Embed(title=_clip(f"Results for {query}", 256), description=description,
                          colour=discord.Colour.blurple())
    embed.set_footer(text=f"via {engine}")
    return embed


def wiki_embed(summary: WikiSummary, query: str) -> discord.Embed:
    if summary.is_disambiguation:
        options = "\n".join(f"• {_link_text(o)}" for o in summary.options[:25]) or "(no options listed)"
        description = _clip(f"**{_link_text(summary.title)}** may refer to:\n{options}", EMBED_DESCRIPTION_LIMIT)
    else:  # Wikipedia's text is anyone's edit: shown as typed (no masked links, headings or invites)
        description = _clip(inert(summary.extract or summary.description or "(no summary)"), EMBED_DESCRIPTION_LIMIT)
    embed = discord.Embed(title=_clip(summary.title, 256), url=summary.url, description=description,
                          colour=discord.Colour.light_grey())
    if summary.thumbnail:
        embed.set_thumbnail(url=summary.thumbnail)
    footer = f"Wikipedia ({summary.lang})"
    if summary.from_search:
        footer += f" · closest match for “{_clip(query, 100)}”"
    embed.set_footer(text=footer)
    return embed


def urban_text(raw: str) -> str:
    """A definition as its author typed it, escaped; only its [word] cross-links become (the bot's) links."""
    return "".join(inert(text) if target is None else f"[{_link_text(text)}](<{target}>)"
                   for text, target in crosslink_parts(raw))


def urban_embed(definitions: list[UrbanDefinition], index: int) -> discord.Embed:
    d = definitions[index]
    definition, example = urban_text(d.definition), urban_text(d.example)
    embed = discord.Embed(title=_clip(d.word, 256), url=d.permalink or None,
                          description=_clip(definition, EMBED_DESCRIPTION_LIMIT), colour=discord.Colour.orange())
    if example.strip():
        embed.add_field(name="Example", value=_clip(f"*{example.strip()}*", FIELD_LIMIT), inline=False)
    embed.set_footer(text=f"👍 {d.thumbs_up} · 👎 {d.thumbs_down} · {index + 1}/{len(definitions)}"
                          + (f" · by {_clip(d.author, 60)}" if d.author else ""))
    return embed


def channel_allows_nsfw(channel: object) -> bool:
    if channel is None or isinstance(channel, (discord.DMChannel, discord.GroupChannel)):
        return True
    if isinstance(channel, discord.Thread):
        channel = channel.parent
    return bool(getattr(channel, "is_nsfw", lambda: False)())


class UrbanPager(OwnerPager):
    """Prev/next through the definitions; only the person who asked can page."""

    def __init__(self, definitions: list[UrbanDefinition], owner_id: int) -> None:
        super().__init__(owner_id)
        self.definitions = definitions
        self.index = 0
        self.sync()

    def at_start(self) -> bool:
        return self.index == 0

    def at_end(self) -> bool:
        return self.index >= len(self.definitions) - 1

    async def turn(self, step: int) -> discord.Embed:
        self.index = max(0, min(len(self.definitions) - 1, self.index + step))
        return urban_embed(self.definitions, self.index)


class Search(commands.Cog):
    def __init__(self, bot: Bot) -> None:
        self.bot = bot
        self.search = bot.services.search
        self.max_chars = bot.settings.search_max_query_chars
        self.system_prompt = bot.services.system_prompt
        self.limits = bot.services.limits

    async def _accept(self, interaction: discord.Interaction, text: str, *, model: bool = False) -> str | None:
        """The cleaned query, or None once the member was told why not (bad query, their rate or quota)."""
        try:
            cleaned = clean_query(text, self.max_chars)
        except InvalidQuery as exc:
            await reply(interaction, str(exc), ephemeral=True)
            return None
        if (refusal := await self.limits.admit(interaction.user.id, interaction.guild_id, model=model)) is not None:
            await reply(interaction, refusal, ephemeral=True)
            return None
        return cleaned

    @app_commands.command(name="search", description="Search the web")
    @app_commands.describe(query="What to search for")
    async def web(self, interaction: discord.Interaction, query: str) -> None:
        if (text := await self._accept(interaction, query)) is None:
            return
        private = not answers_publicly(interaction)
        await interaction.response.defer(thinking=True, ephemeral=private)
        try:
            results = await self.search.web.search(text, requester=InteractionNotice(interaction).requester())
        except ServiceError as exc:
            await reply(interaction, describe_failure(exc, "Web search"), ephemeral=private)
            return
        if not results:
            await reply(interaction, f"No results for “{discord.utils.escape_markdown(text)}”.", ephemeral=private)
            return
        await reply(interaction, embed=web_embed(text, results, self.search.web.engine), ephemeral=private)

    @app_commands.command(name="wiki", description="Look something up on Wikipedia")
    @app_commands.describe(query="Article title or search words")
    async def wiki(self, interaction: discord.Interaction, query: str) -> None:
        if (text := await self._accept(interaction, query)) is None:
            return
        private = not answers_publicly(interaction)
        await interaction.response.defer(thinking=True, ephemeral=private)
        try:
            summary = await self.search.wikipedia.summary(text)
        except ServiceError as exc:
            await reply(interaction, describe_failure(exc, "Wikipedia"), ephemeral=private)
            return
        if summary is None:
            await reply(interaction, f"Wikipedia has no article matching “{discord.utils.escape_markdown(text)}”.",
                        ephemeral=private)
            return
        await reply(interaction, embed=wiki_embed(summary, text), ephemeral=private)

    @app_commands.command(name="urban", description="Look a term up on Urban Dictionary (NSFW channels and DMs)")
    @app_commands.describe(term="The word or phrase")
    async def urban(self, interaction: discord.Interaction, term: str) -> None:
        if self.bot.settings.urban_nsfw_only and not channel_allows_nsfw(interaction.channel):
            await reply(interaction, "Urban Dictionary is often adult content, so /urban works only in "
                                     "age-restricted (NSFW) channels and in DMs.", ephemeral=True)
            return
        if (text := await self._accept(interaction, term)) is None:
            return
        private = not answers_publicly(interaction)
        await interaction.response.defer(thinking=True, ephemeral=private)
        try:
            definitions = await self.search.urban.define(text)
        except ServiceError as exc:
            await reply(interaction, describe_failure(exc, "Urban Dictionary"), ephemeral=private)
            return
        if not definitions:
            await reply(interaction, f"Urban Dictionary has no entry for “{discord.utils.escape_markdown(text)}”.",
                        ephemeral=private)
            return
        pager = UrbanPager(definitions, interaction.user.id)
        await reply(interaction, embed=urban_embed(definitions, 0), view=pager if len(definitions) > 1 else None,
                    ephemeral=private)
        if len(definitions) > 1:
            pager.message = await interaction.original_response()

    @app_commands.command(name="ask", description="Ask a question answered from fresh web and Wikipedia results")
    @app_commands.describe(question="Your question")
    async def ask(self, interaction: discord.Interaction, question: str) -> None:
        if interaction.guild is None and not self.bot.settings.chat_allow_dms:
            await reply(interaction, "Direct messages are switched off on this bot; use /ask in a server.",
                        ephemeral=True)
            return
        if (text := await self._accept(interaction, question, model=True)) is None:
            return
        private = not answers_publicly(interaction)
        await interaction.response.defer(thinking=True, ephemeral=private)
        notice = InteractionNotice(interaction, ephemeral=private)
        requester = notice.requester()
        context = await gather_context(self.search, text, requester=requester)
        messages = context.messages(self.system_prompt, interaction.user.display_name)

        async def send(content: str) -> discord.WebhookMessage:
            return await interaction.followup.send(content, wait=True, allowed_mentions=NO_MENTIONS, ephemeral=private,
                                                   suppress_embeds=True)  # its sources are links: no previews

        stream = StreamingReply(notice.send_first, send, interval=self.bot.settings.chat_stream_edit_interval)
        try:
            await stream_answer(self.bot.services.llm.stream(messages, requester=requester), stream,
                                footer=context.footer())
        finally:
            await notice.close()


async def setup(bot: Bot) -> None:
    await bot.add_cog(Search(bot))
