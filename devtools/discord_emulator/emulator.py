"""DiscordEmulator: the local Discord a test starts, points the bot at, and drives like a user would."""

from __future__ import annotations

import dataclasses
import logging
import shutil
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from aiohttp import web

from devtools.discord_emulator import payloads
from devtools.discord_emulator import permissions as perms
from devtools.discord_emulator.actions import EmulatedInteraction, InteractionActions
from devtools.discord_emulator.certs import TestCertificates, make_certificates
from devtools.discord_emulator.clock import Clock
from devtools.discord_emulator.commands import CommandStore
from devtools.discord_emulator.core import API_PREFIX, Core
from devtools.discord_emulator.errors import EmulatorError
from devtools.discord_emulator.gateway import Gateway
from devtools.discord_emulator.holds import Hold
from devtools.discord_emulator.interactions import InteractionDesk
from devtools.discord_emulator.messaging import Messenger, UploadedFile
from devtools.discord_emulator.ratelimit import RateLimiter, RateLimitRule
from devtools.discord_emulator.records import MessageRecord, Records
from devtools.discord_emulator.rest.app import build_app
from devtools.discord_emulator.rtc import VoiceLink
from devtools.discord_emulator.snowflake import Snowflakes
from devtools.discord_emulator.voice_actions import VoiceActions
from devtools.discord_emulator.waiting import Notifier
from devtools.discord_emulator.world import (
    Channel,
    ChannelType,
    Guild,
    Member,
    Overwrite,
    Role,
    User,
    World,
    add_standard_guild,
    default_world,
)

log = logging.getLogger(__name__)

IS_VOICE_MESSAGE = 1 << 13
T = TypeVar("T")
DEFAULT_TOKEN = "emulator.bot-token.0123456789"


def _user(who: Member | User) -> User:
    return who.user if isinstance(who, Member) else who


class DiscordEmulator(InteractionActions, VoiceActions):
    """Gateway, REST and interactions on one 127.0.0.1 port; the voice server on its own TLS port.

    Usage: `async with DiscordEmulator() as emu:` then point the bot at `emu.bot_env()` (settings).
    World lookups by name (`emu.channel("general")`, `emu.member("alice")`) refer to the first guild
    unless given `guild=`. `world=partial(default_world, shards=2)`: one guild per shard.
    """

    def __init__(self, *, token: str = DEFAULT_TOKEN, host: str = "127.0.0.1", port: int = 0,
                 clock: Clock | None = None, world: Callable[[Clock, Snowflakes], World] = default_world,
                 certificates: TestCertificates | None = None, heartbeat_interval: float = 41.25,
                 ack_timeout: float = 3.0, token_lifetime: float = 15 * 60,
                 voice_options: dict[str, Any] | None = None) -> None:
        self.clock = clock or Clock()
        self.world = world(self.clock, Snowflakes(self.clock))
        self.records = Records()
        self.notifier = Notifier()
        self.clock.on_advance(self.notifier.notify)
        self.gateway = Gateway(self.world, token, self.clock, self.records, self.notifier,
                               heartbeat_interval_ms=int(heartbeat_interval * 1000))
        self.gateway.on_voice_state = self._bot_voice_state
        self.messenger = Messenger(self.world, self.records, self.gateway, self.clock, self.notifier,
                                   lambda: self.base_url)
        desk = InteractionDesk(self.world, self.messenger, self.clock, self.notifier,
                               ack_timeout=ack_timeout, token_lifetime=token_lifetime)
        self.core = Core(self.world, token, self.clock, self.records, self.notifier, self.gateway, self.messenger,
                         desk, CommandStore(self.world.application.id, self.world.snowflakes), RateLimiter())
        self.interactions: list[EmulatedInteraction] = []
        self.token = token
        self.host = host
        self.port = port
        self.base_url = ""
        self.strict = True  # check() fails on unemulated routes and emulator errors
        self._certificates = certificates
        self._own_cert_dir: Path | None = None
        self._runner: web.AppRunner | None = None
        self._last_sent: dict[int, int] = {}  # channel id -> last message id sent through the test API
        self.rtc = VoiceLink(certificates, voice_options)

    # -- lifecycle ---------------------------------------------------------------------------------

    async def start(self) -> None:
        if self._certificates is None:
            self._own_cert_dir = Path(tempfile.mkdtemp(prefix="discord-emulator-"))
            self._certificates = make_certificates(self._own_cert_dir)
            self.rtc.certificates = self._certificates
        runner = web.AppRunner(build_app(self.core), handle_signals=False, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port)
        await site.start()
        self._runner = runner
        self.port = runner.addresses[0][1]
        self.base_url = f"http://{self.host}:{self.port}"
        self.core.base_url = self.base_url
        self.gateway.url = f"ws://{self.host}:{self.port}/gateway"

    async def stop(self) -> None:
        self.core.holds.release_all()
        await self.gateway.close()
        await self.rtc.stop()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._own_cert_dir is not None:
            shutil.rmtree(self._own_cert_dir, ignore_errors=True)

    async def __aenter__(self) -> DiscordEmulator:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def api_url(self) -> str:
        return self.base_url + API_PREFIX

    @property
    def gateway_url(self) -> str:
        return self.gateway.url

    @property
    def ca_file(self) -> Path:
        assert self._certificates is not None, "start() the emulator first"
        return self._certificates.ca_file

    def bot_env(self) -> dict[str, str]:
        """The settings that point the bot here (as environment variables)."""
        return {"DISCORD_TOKEN": self.token, "DISCORD_API_BASE_URL": self.api_url,
                "DISCORD_GATEWAY_URL": self.gateway_url, "DISCORD_CA_FILE": str(self.ca_file)}

    def check(self) -> None:
        """Fail if the bot used a route the emulator lacks or the emulator itself broke."""
        if self.strict and self.records.problems:
            raise AssertionError("Discord emulator problems:\n" + "\n".join(self.records.problems))

    # -- world -------------------------------------------------------------------------------------

    @property
    def guild(self) -> Guild:
        return next(iter(self.world.guilds.values()))

    @property
    def guilds(self) -> list[Guild]:
        return list(self.world.guilds.values())

    def guild_named(self, name: str) -> Guild:
        for guild in self.world.guilds.values():
            if guild.name == name:
                return guild
        raise EmulatorError(f"no guild {name!r}; there are {[g.name for g in self.world.guilds.values()]}")

    async def add_guild(self, name: str, *, shard: tuple[int, int] | None = None) -> Guild:
        """The bot joins another guild with the usual cast (alice, bob, ... as in the first one) and its own
        #general, #random, Voice...; `shard=(1, 2)` gives it an id Discord routes to shard 1 of 2. The
        owning shard's sessions get GUILD_CREATE."""
        guild = add_standard_guild(self.world, name, shard=shard)
        await self.gateway.guild_available(guild)
        return guild

    @property
    def bot_user(self) -> User:
        return self.world.bot_user

    def bot_member(self, guild: Guild | None = None) -> Member:
        return self.world.bot_member(guild or self.guild)

    def channel(self, name: str, guild: Guild | None = None) -> Channel:
        return (guild or self.guild).channel_named(name)

    def member(self, name: str, guild: Guild | None = None) -> Member:
        return (guild or self.guild).member_named(name)

    def role(self, name: str, guild: Guild | None = None) -> Role:
        return (guild or self.guild).role_named(name)

    def dm_channel(self, who: Member | User) -> Channel:
        return self.world.dm_channel(_user(who))

    async def add_channel(self, name: str, type: ChannelType = ChannelType.TEXT, *, guild: Guild | None = None,
                          parent: Channel | None = None, nsfw: bool = False, topic: str | None = None) -> Channel:
        guild = guild or self.guild
        channel = self.world.add_channel(guild, name, type, parent=parent, nsfw=nsfw, topic=topic,
                                         owner=self.world.users[guild.owner_id] if type in (11, 12) else None)
        event = "THREAD_CREATE" if channel.is_thread else "CHANNEL_CREATE"
        await self.gateway.dispatch(event, payloads.channel(channel), guild_id=guild.id)
        return channel

    async def delete_channel(self, channel: Channel) -> None:
        guild = self.world.guild_of(channel)
        if guild is None:
            raise EmulatorError("DM channels cannot be deleted")
        del guild.channels[channel.id]
        event = "THREAD_DELETE" if channel.is_thread else "CHANNEL_DELETE"
        await self.gateway.dispatch(event, payloads.channel(channel), guild_id=guild.id)

    async def add_member(self, name: str, *, roles: list[Role] = (), bot: bool = False,
                         guild: Guild | None = None) -> Member:
        guild = guild or self.guild
        member = self.world.add_member(guild, self.world.add_user(name, bot=bot), roles=list(roles))
        await self.gateway.dispatch("GUILD_MEMBER_ADD", {**payloads.member(member), "guild_id": str(guild.id)},
                                    guild_id=guild.id)
        return member

    async def remove_member(self, member: Member) -> None:
        """The member leaves the guild (or is kicked): out of its voice channel first, then GUILD_MEMBER_REMOVE
        (which only sessions with the members intent receive, as on Discord)."""
        guild = self.world.guilds[member.guild_id]
        if member.voice is not None:
            await self.leave_voice(member)
        del guild.members[member.id]
        await self.gateway.dispatch("GUILD_MEMBER_REMOVE", {"guild_id": str(guild.id), "user": payloads.user(member.user)},
                                    guild_id=guild.id)

    async def ban(self, member: Member) -> None:
        """A moderator bans the member: GUILD_BAN_ADD (moderation intent), then they are removed as by remove_member."""
        guild = self.world.guilds[member.guild_id]
        guild.bans.add(member.id)
        await self.gateway.dispatch("GUILD_BAN_ADD", {"guild_id": str(guild.id), "user": payloads.user(member.user)},
                                    guild_id=guild.id)
        await self.remove_member(member)

    async def add_role(self, name: str, permissions: int = 0, *, mentionable: bool = False,
                       guild: Guild | None = None) -> Role:
        guild = guild or self.guild
        role = self.world.add_role(guild, name, permissions, mentionable=mentionable)
        await self.gateway.dispatch("GUILD_ROLE_CREATE", {"guild_id": str(guild.id), "role": payloads.role(role)},
                                    guild_id=guild.id)
        return role

    async def give_role(self, member: Member, role: Role) -> None:
        member.role_ids.append(role.id)
        await self.gateway.dispatch("GUILD_MEMBER_UPDATE", {**payloads.member(member), "guild_id": str(member.guild_id)},
                                    guild_id=member.guild_id)

    async def set_permissions(self, channel: Channel, target: Member | User | Role, *, allow: int = 0,
                              deny: int = 0) -> None:
        """Add a permission overwrite on the channel (CHANNEL_UPDATE is dispatched)."""
        kind = 0 if isinstance(target, Role) else 1
        target_id = target.id
        channel.overwrites = [o for o in channel.overwrites if o.id != target_id] + [Overwrite(target_id, kind, allow, deny)]
        await self.gateway.dispatch("CHANNEL_UPDATE", payloads.channel(channel), guild_id=channel.guild_id)

    async def revoke_access(self, channel: Channel) -> None:
        """The bot can no longer see the channel: its calls there get 403 50001 Missing Access."""
        await self.set_permissions(channel, self.bot_member(self.world.guild_of(channel)), deny=perms.VIEW_CHANNEL)

    # -- messages ----------------------------------------------------------------------------------

    async def send_message(self, author: Member | User, channel: Channel, content: str = "", *,
                           reply_to: MessageRecord | None = None, mentions_bot: bool = False,
                           embeds: list[dict[str, Any]] | None = None,
                           files: Sequence[tuple[str, bytes] | tuple[str, bytes, str]] = (),
                           voice_message: float | None = None) -> MessageRecord:
        """`author` says `content` in `channel`; the bot gets MESSAGE_CREATE with mentions and reply data.

        `files` are (filename, bytes[, content type]) attachments, served from the emulator's CDN;
        `voice_message=seconds` makes the one file a voice message (flag IS_VOICE_MESSAGE, duration, waveform).
        """
        user = _user(author)
        if not perms.can_send(self.world.permissions(user, channel), channel):
            raise EmulatorError(f"{user.username} cannot send messages in {channel.name or 'this DM'}")
        if mentions_bot and self.bot_user.mention not in content:
            content = f"{self.bot_user.mention} {content}".rstrip()
        body: dict[str, Any] = {"content": content}
        if embeds:
            body["embeds"] = embeds
        if reply_to is not None:
            body["message_reference"] = {"message_id": str(reply_to.id)}
        uploads = [UploadedFile(i, f[0], f[1], f[2] if len(f) > 2 else None) for i, f in enumerate(files)]
        flags = 0
        if voice_message is not None:
            if len(uploads) != 1 or content:
                raise EmulatorError("a voice message is one audio file and no text")
            flags = IS_VOICE_MESSAGE
        record = await self.messenger.create(channel, user, body, uploads, flags=flags,
                                             dispatch=voice_message is None)
        if voice_message is not None:
            attachments = record.latest.attachments
            attachments[0] = dataclasses.replace(attachments[0], duration_secs=voice_message)
            await self.gateway.dispatch("MESSAGE_CREATE", self.messenger.payload(record), guild_id=channel.guild_id)
        self._last_sent[channel.id] = record.id
        return record

    async def edit_message(self, message: MessageRecord, content: str) -> MessageRecord:
        """The author edits their message (MESSAGE_UPDATE)."""
        return await self.messenger.edit(message, {"content": content})

    async def delete_message(self, message: MessageRecord, by: Member | User | None = None) -> None:
        await self.messenger.delete(message, _user(by) if by else self.world.users[message.author_id])

    async def bulk_delete(self, messages: list[MessageRecord], by: Member | User) -> None:
        """A moderator (or another bot) purges messages of one channel: one MESSAGE_DELETE_BULK."""
        await self.messenger.delete_many(messages, _user(by))

    async def react(self, who: Member | User, message: MessageRecord, emoji: str) -> None:
        await self.messenger.react(message, _user(who), emoji)

    async def start_typing(self, who: Member | User, channel: Channel) -> None:
        await self.messenger.typing(channel, _user(who))

    def messages(self, channel: Channel, *, include_ephemeral: bool = False,
                 include_deleted: bool = False) -> list[MessageRecord]:
        """Messages in the channel, oldest first, as the people there see them."""
        found = self.messenger.in_channel(channel.id, include_deleted=include_deleted)
        return [m for m in found if include_ephemeral or not m.ephemeral]

    def bot_messages(self, channel: Channel) -> list[MessageRecord]:
        return [m for m in self.messages(channel) if m.author_id == self.bot_user.id]

    async def wait_for_message(self, channel: Channel, predicate: Callable[[MessageRecord], bool] | None = None, *,
                               from_bot: bool = True, after: MessageRecord | None = None,
                               timeout: float = 5.0) -> MessageRecord:
        """The first new message in the channel (by the bot unless from_bot=False) matching `predicate`.

        "New" means after `after`, by default after the last message the test sent there with
        send_message(), so `send_message(...)` then `wait_for_message(...)` finds the bot's answer even
        if it arrived before the wait began.
        """
        since = after.id if after else self._last_sent.get(channel.id, 0)

        def find() -> MessageRecord | None:
            for m in self.messages(channel):
                if m.id > since and (not from_bot or m.author_id == self.bot_user.id) and (predicate is None or predicate(m)):
                    return m
            return None

        def describe() -> str:
            seen = [m for m in self.messages(channel) if m.id > since]
            return f"a {'bot ' if from_bot else ''}message in {channel.name or 'the DM'}; new messages there: {seen}"

        return await self.notifier.wait_for(find, timeout, describe)

    async def wait_until(self, condition: Callable[[], T], timeout: float = 5.0, message: str = "the condition") -> T:
        """Re-check `condition` at every emulator event (and clock advance) until it is truthy."""
        return await self.notifier.wait_for(condition, timeout, message)

    def rate_limit(self, route: str, *, times: int = 1, retry_after: float = 0.2,
                   is_global: bool = False) -> RateLimitRule:
        """Answer the next `times` matching requests with 429: `emu.rate_limit("POST /channels/*/messages")`."""
        return self.core.rate_limits.add(route, times=times, retry_after=retry_after, is_global=is_global)

    def hold_responses(self, route: str, *, after: int = 0) -> Hold:
        """Do the matching requests' work but hold their answers until `hold.release()` (or stop):
        `emu.hold_responses("POST /channels/*/messages", after=1)`; `hold.held` counts them. discord.py
        sends one request to a bucket it does not know yet and waits for its rate-limit headers, so
        `after=1` lets the first through and holds the many that follow."""
        return self.core.holds.add(route, after=after)

    def command_names(self, guild: Guild | None = None) -> list[str]:
        """Names of the synced commands a user in the guild sees (global and guild)."""
        guild_id = (guild or self.guild).id
        return sorted({c["name"] for c in self.core.commands.global_commands}
                      | {c["name"] for c in self.core.commands.guild_commands.get(guild_id, [])})
