"""People in a call know when the bot listens, and are heard only once told and only if they agree.

One `Consent` per voice session. `reconcile()` runs whenever the call changes (the bot starts
listening or moves, someone joins or leaves, someone opts out or back in): whoever is in the call and
was not told yet is told, in the call's own text chat (mentioned) and aloud when TTS is up; then the
receiver's `audible` set becomes exactly the members present, told, and not opted out. Audio from
anyone else is dropped in receive.py before it is decoded.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

import discord

from services.errors import ServiceError
from services.voice import BargedIn, VoiceOptOutStore

if TYPE_CHECKING:
    from cogs.voice.session import GuildVoiceSession

log = logging.getLogger(__name__)

OPT_OUT = "`/voice-optout`"
SPOKEN_START = "I'm listening in this call. Use voice opt out if you'd rather not be heard."
SPOKEN_JOIN = "Hi {name}, I'm listening in this call."


def start_notice(channel: str, heard: list[str], not_heard: list[str]) -> str:
    lines = [f"🎙️ **I'm listening in {channel}**: what you say is transcribed, answered and kept in my "
             f"memory of this call (posted in this chat). Rather not be heard? {OPT_OUT}: your audio is then "
             "dropped before it is even decoded."]
    if heard:
        lines.append(f"Listening to: {', '.join(heard)}")
    if not_heard:
        lines.append(f"Not listening to (opted out): {', '.join(not_heard)}")
    return "\n".join(lines)


def join_notice(mention: str, *, opted_out: bool) -> str:
    if opted_out:
        return f"🎙️ {mention}: I'm listening in this call, but not to you (you opted out; `/voice-optin` undoes it)."
    return (f"🎙️ {mention}: I'm listening in this call; what you say is transcribed and answered. "
            f"{OPT_OUT} if you'd rather not be heard.")


class Consent:
    def __init__(self, session: GuildVoiceSession, store: VoiceOptOutStore, *, speaks: bool,
                 listening: Callable[[], bool]) -> None:
        self.session = session
        self.store = store
        self.speaks = speaks  # TTS is configured: notices are also said aloud
        self._listening = listening
        self._lock = asyncio.Lock()
        self.told: set[int] = set()  # members told in this session (once each, so a join-leave loop is not spam)
        self.opted_out: set[int] = set()  # of those, who opted out
        self._announced = False
        self._speaking: set[asyncio.Task[None]] = set()

    def members(self) -> list[discord.Member]:
        """The humans in the bot's voice channel now."""
        channel = self.session.vc.channel
        bot_id = self.session.vc.user.id
        return [m for m in getattr(channel, "members", []) if m.id != bot_id and not m.bot]

    async def reconcile(self) -> None:
        async with self._lock:
            vc = self.session.vc
            if not self._listening() or self.session.closed:
                vc.audible = frozenset()
                self.session.forget_speakers(set())
                return
            present = self.members()
            new = [m for m in present if m.id not in self.told]
            if new:
                self.opted_out |= await self.store.opted_out(m.id for m in new)
                if await self._tell(new):
                    self.told |= {m.id for m in new}
            audible = frozenset(m.id for m in present if m.id in self.told and m.id not in self.opted_out)
            vc.audible = audible
            self.session.forget_speakers(audible)

    async def set_opted_out(self, user_id: int, opted_out: bool) -> None:
        """The member just ran /voice-optout or /voice-optin."""
        if opted_out:
            self.opted_out.add(user_id)
        else:
            self.opted_out.discard(user_id)
        await self.reconcile()

    async def _tell(self, members: list[discord.Member]) -> bool:
        """Tell these members the bot listens; True if it could (in writing, or aloud)."""
        mentions = {m.id: m.mention for m in members}
        if not self._announced:
            heard = [mentions[m.id] for m in members if m.id not in self.opted_out]
            not_heard = [mentions[m.id] for m in members if m.id in self.opted_out]
            text = start_notice(f"**{self.session.vc.channel.name}**", heard, not_heard)
            spoken = SPOKEN_START
        else:
            text = "\n".join(join_notice(mentions[m.id], opted_out=m.id in self.opted_out) for m in members)
            spoken = SPOKEN_JOIN.format(name=", ".join(m.display_name for m in members
                                                       if m.id not in self.opted_out))
        posted = await self.session.post(text, ping=[m.id for m in members]) is not None
        aloud = self.speaks and any(m.id not in self.opted_out for m in members)
        if aloud:
            task = asyncio.create_task(self._say(spoken), name=f"voice-notice-{self.session.guild.id}")
            self._speaking.add(task)
            task.add_done_callback(self._speaking.discard)
            self.session.track(task)
        if posted or aloud:
            self._announced = True
            return True
        log.warning("Could not tell %d member(s) in guild %s that the bot listens (no chat, no TTS): not hearing them",
                    len(members), self.session.guild.id)
        return False

    async def wait_spoken(self) -> None:
        """Until the spoken notices given so far have been queued and played (for tests and tools)."""
        while self._speaking:
            await asyncio.gather(*self._speaking, return_exceptions=True)
        await self.session.queue.wait_idle()

    async def _say(self, text: str) -> None:
        try:
            await self.session.conversation.say(text, self.session.settings)
        except (ServiceError, BargedIn) as exc:
            log.info("The spoken listening notice was not said (%s); it is in the call's chat", exc)
