"""Telling a waiting member where their request stands, by editing the placeholder they already see.

A /chat, /ask or /search that waits in line (for a free place in the channel, for the model, for the
search engine) shows "⏳ ... number 3 in line" in its deferred "thinking" message; a mention gets a
short reply saying so. Nothing is posted for a wait under NOTICE_DELAY, and the notice is edited at
most every NOTICE_INTERVAL. When the answer comes, it takes the placeholder's place (`send_first`),
so a busy channel shows one message per answer, each a reply to its own prompt.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import discord

from discord_ui.ui import NO_MENTIONS, NOTICE_KEY, NOTICE_SHOWN_KEY
from services.limits.requester import Requester

log = logging.getLogger(__name__)

NOTICE_DELAY = 1.0
NOTICE_INTERVAL = 2.0
INTERACTION_WINDOW = 900.0  # Discord accepts follow-ups and edits for 15 minutes
WINDOW_MARGIN = 30.0  # kept for posting the answer


def notice_text(what: str, position: int) -> str:
    if what == "earlier":
        return "⏳ Waiting: I'm answering your earlier message first."
    if what == "channel":
        return f"⏳ This channel is busy: you are number {position} in line."
    return f"⏳ Waiting for {what}: you are number {position} in line."


class WaitNotice:
    """`queued(what, position)` may be called often and synchronously; edits are delayed and paced."""

    def __init__(self, show: Callable[[str], Awaitable[object]], *, delay: float = NOTICE_DELAY,
                 interval: float = NOTICE_INTERVAL) -> None:
        self._show = show
        self._delay = delay
        self._interval = interval
        self._wanted: str | None = None
        self._shown: str | None = None
        self._changed = asyncio.Event()
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._closed = False

    @property
    def shown(self) -> bool:
        return self._shown is not None

    def queued(self, what: str, position: int) -> None:
        if self._closed:
            return
        self._wanted = notice_text(what, position)
        self._changed.set()
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="wait-notice")

    async def _run(self) -> None:
        await asyncio.sleep(self._delay)
        while True:
            await self._changed.wait()
            self._changed.clear()
            if self._wanted != self._shown and self._wanted is not None:
                async with self._lock:
                    try:
                        await self._show(self._wanted)
                    except discord.HTTPException as exc:
                        log.info("Could not show a waiting notice: %s", exc)
                        return
                    self._shown = self._wanted
            await asyncio.sleep(self._interval)

    async def close(self) -> None:
        """No more notices; an edit in flight completes first, so it can never overwrite the answer."""
        self._closed = True
        if self._task is not None:
            async with self._lock:
                self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None


class InteractionNotice(WaitNotice):
    """The deferred "thinking" message of a slash command is the placeholder. `ephemeral` must match the
    deferral (answers only the member may see where they may not post)."""

    def __init__(self, interaction: discord.Interaction, *, ephemeral: bool = False, **pacing: float) -> None:
        super().__init__(self._edit, **pacing)
        self.interaction = interaction
        self.ephemeral = ephemeral
        interaction.extras[NOTICE_KEY] = self  # discord_ui.ui.reply closes it and edits the placeholder

    async def _edit(self, text: str) -> None:
        await self.interaction.edit_original_response(content=text, allowed_mentions=NO_MENTIONS)
        self.interaction.extras[NOTICE_SHOWN_KEY] = True

    def requester(self) -> Requester:
        """The asker, with the interaction window (less a margin to post the answer) as deadline."""
        interaction = self.interaction
        age = max(0.0, (datetime.now(UTC) - interaction.created_at).total_seconds())
        now = asyncio.get_running_loop().time()
        return Requester(interaction.user.id, interaction.guild_id, now + INTERACTION_WINDOW - WINDOW_MARGIN - age,
                         self.queued, arrived_at=now - age)

    async def send_first(self, content: str) -> discord.Message:
        """The answer's first message replaces the placeholder (notice or "thinking"), without link previews."""
        await self.close()
        self.interaction.extras.pop(NOTICE_KEY, None)
        if self.interaction.extras.pop(NOTICE_SHOWN_KEY, None):
            return await edit_original_without_previews(self.interaction, content)
        # The first follow-up after a deferral takes the "thinking" message's place, with its flags.
        return await self.interaction.followup.send(content, wait=True, allowed_mentions=NO_MENTIONS,
                                                    ephemeral=self.ephemeral, suppress_embeds=True)


async def edit_original_without_previews(interaction: discord.Interaction, content: str) -> discord.InteractionMessage:
    """`Interaction.edit_original_response(content=...)` with SUPPRESS_EMBEDS set.

    Discord's Edit Webhook Message takes `flags` (only SUPPRESS_EMBEDS may change), but discord.py 2.7
    sends none from edit_original_response; this mirrors that method (same adapter, same parameters)
    and adds the flag. The end-to-end tests check the flag on the edited message.
    """
    from discord.http import handle_message_parameters
    from discord.interactions import _InteractionMessageState
    from discord.webhook.async_ import async_context

    with handle_message_parameters(content=content, allowed_mentions=NO_MENTIONS,
                                   previous_allowed_mentions=interaction._state.allowed_mentions,
                                   flags=discord.MessageFlags(suppress_embeds=True)) as params:
        http = interaction._state.http
        data = await async_context.get().edit_original_interaction_response(
            interaction.application_id, interaction.token, session=interaction._session, proxy=http.proxy,
            proxy_auth=http.proxy_auth, payload=params.payload, multipart=params.multipart, files=params.files)
    state = _InteractionMessageState(interaction, interaction._state)
    return discord.InteractionMessage(state=state, channel=interaction.channel, data=data)  # type: ignore[arg-type]


class MessageNotice(WaitNotice):
    """For a mention or reply: the notice is a reply to the prompt, later edited into the answer."""

    def __init__(self, message: discord.Message, **pacing: float) -> None:
        super().__init__(self._post, **pacing)
        self.message = message
        self.placeholder: discord.Message | None = None

    async def _post(self, text: str) -> None:
        if self.placeholder is None:
            self.placeholder = await self.message.reply(text, mention_author=False, allowed_mentions=NO_MENTIONS,
                                                        suppress_embeds=True)
        else:
            await self.placeholder.edit(content=text, allowed_mentions=NO_MENTIONS)

    def requester(self) -> Requester:
        guild_id = self.message.guild.id if self.message.guild is not None else None
        age = max(0.0, (datetime.now(UTC) - self.message.created_at).total_seconds())
        return Requester(self.message.author.id, guild_id, None, self.queued,
                         arrived_at=asyncio.get_running_loop().time() - age)

    async def send_first(self, content: str) -> discord.Message:
        await self.close()
        if self.placeholder is not None:
            return await self.placeholder.edit(content=content, allowed_mentions=NO_MENTIONS, suppress=True)
        return await self.message.reply(content, mention_author=False, allowed_mentions=NO_MENTIONS,
                                        suppress_embeds=True)


class ThreadNotice(MessageNotice):
    """CHAT_AUTO_THREAD: the notice, then the answer, are posted in the thread opened for the prompt."""

    def __init__(self, message: discord.Message, thread: discord.Thread, **pacing: float) -> None:
        super().__init__(message, **pacing)
        self.thread = thread

    async def _post(self, text: str) -> None:
        if self.placeholder is None:
            self.placeholder = await self.thread.send(text, allowed_mentions=NO_MENTIONS, suppress_embeds=True)
        else:
            await self.placeholder.edit(content=text, allowed_mentions=NO_MENTIONS)

    async def send_first(self, content: str) -> discord.Message:
        await self.close()
        if self.placeholder is not None:
            return await self.placeholder.edit(content=content, allowed_mentions=NO_MENTIONS, suppress=True)
        return await self.thread.send(content, allowed_mentions=NO_MENTIONS, suppress_embeds=True)
