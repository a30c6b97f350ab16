"""The emulated Discord's state: the application, users, guilds with roles, channels and members, DMs.

Plain data; the emulator turns changes into gateway events. Tests add to it through the emulator's
helpers (`emu.add_channel(...)`) so connected clients hear about the change.
"""

from __future__ import annotations

import datetime
import enum
import secrets
from dataclasses import dataclass, field

from devtools.discord_emulator import permissions as perms
from devtools.discord_emulator import shards as sharding
from devtools.discord_emulator.clock import Clock
from devtools.discord_emulator.errors import EmulatorError
from devtools.discord_emulator.snowflake import Snowflakes


class ChannelType(enum.IntEnum):
    TEXT = 0
    DM = 1
    VOICE = 2
    CATEGORY = 4
    NEWS = 5
    PUBLIC_THREAD = 11
    PRIVATE_THREAD = 12
    STAGE = 13


@dataclass(eq=False)
class User:
    id: int
    username: str
    global_name: str | None = None
    bot: bool = False
    dms_open: bool = True  # False: the bot gets 50007 "Cannot send messages to this user"

    @property
    def mention(self) -> str:
        return f"<@{self.id}>"


@dataclass(eq=False)
class Role:
    id: int
    guild_id: int
    name: str
    permissions: int = 0
    position: int = 0
    mentionable: bool = False
    managed: bool = False
    bot_id: int | None = None  # set for a bot's managed role

    @property
    def mention(self) -> str:
        return f"<@&{self.id}>"


@dataclass(eq=False)
class Overwrite:
    id: int
    type: int  # 0 role, 1 member
    allow: int = 0
    deny: int = 0


@dataclass(eq=False)
class VoiceState:
    channel_id: int
    session_id: str
    self_mute: bool = False
    self_deaf: bool = False


@dataclass(eq=False)
class Channel:
    id: int
    type: ChannelType
    name: str = ""
    guild_id: int | None = None
    position: int = 0
    parent_id: int | None = None
    nsfw: bool = False
    topic: str | None = None
    overwrites: list[Overwrite] = field(default_factory=list)
    recipients: list[User] = field(default_factory=list)  # DMs
    owner_id: int | None = None  # threads

    @property
    def is_dm(self) -> bool:
        return self.type is ChannelType.DM

    @property
    def is_thread(self) -> bool:
        return self.type in (ChannelType.PUBLIC_THREAD, ChannelType.PRIVATE_THREAD)

    @property
    def is_voice(self) -> bool:
        return self.type in (ChannelType.VOICE, ChannelType.STAGE)

    @property
    def is_text(self) -> bool:
        return self.type in (ChannelType.TEXT, ChannelType.NEWS, ChannelType.DM, ChannelType.VOICE) or self.is_thread

    @property
    def mention(self) -> str:
        return f"<#{self.id}>"


@dataclass(eq=False)
class Member:
    user: User
    guild_id: int
    role_ids: list[int] = field(default_factory=list)
    nick: str | None = None
    joined_at: str = ""
    voice: VoiceState | None = None

    @property
    def id(self) -> int:
        return self.user.id

    @property
    def name(self) -> str:
        return self.user.username

    @property
    def mention(self) -> str:
        return self.user.mention


@dataclass(eq=False)
class Guild:
    id: int
    name: str
    owner_id: int
    roles: dict[int, Role] = field(default_factory=dict)
    channels: dict[int, Channel] = field(default_factory=dict)
    members: dict[int, Member] = field(default_factory=dict)
    joined_at: str = ""
    bans: set[int] = field(default_factory=set)  # user ids banned from the guild

    @property
    def everyone_role(self) -> Role:
        return self.roles[self.id]

    def channel_named(self, name: str) -> Channel:
        for channel in self.channels.values():
            if channel.name == name:
                return channel
        raise EmulatorError(f"guild {self.name!r} has no channel {name!r}; it has "
                            f"{sorted(c.name for c in self.channels.values())}")

    def member_named(self, name: str) -> Member:
        for member in self.members.values():
            if name in (member.user.username, member.nick, member.user.global_name):
                return member
        raise EmulatorError(f"guild {self.name!r} has no member {name!r}; it has "
                            f"{sorted(m.user.username for m in self.members.values())}")

    def role_named(self, name: str) -> Role:
        for role in self.roles.values():
            if role.name == name:
                return role
        raise EmulatorError(f"guild {self.name!r} has no role {name!r}")


@dataclass(eq=False)
class Application:
    id: int
    name: str
    bot: User
    owner: User
    flags: int = 0
    # Privileged intents switched on in the "developer portal"; asking for others closes with 4014.
    members_intent: bool = True
    presences_intent: bool = True
    message_content_intent: bool = True


def iso(timestamp: float) -> str:
    return datetime.datetime.fromtimestamp(timestamp, datetime.UTC).isoformat()


class World:
    """Everything the emulated Discord knows, keyed by snowflake id."""

    def __init__(self, clock: Clock, snowflakes: Snowflakes, *, bot_name: str = "EmuBot") -> None:
        self.clock = clock
        self.snowflakes = snowflakes
        self.users: dict[int, User] = {}
        owner = self.add_user("owner")  # the application's owner in the developer portal
        bot = User(self.snowflakes.next(), bot_name, bot=True)
        self.users[bot.id] = bot
        self.application = Application(id=bot.id, name=bot_name, bot=bot, owner=owner)
        self.guilds: dict[int, Guild] = {}
        self.left_guilds: dict[int, Guild] = {}  # guilds the bot left (DELETE /users/@me/guilds/{id})
        self.dm_channels: dict[int, Channel] = {}
        # Sharding: a session whose shard would hold more guilds closes with 4011; GET /gateway/bot
        # reports recommended_shards (None: one per 1,000 guilds, as Discord suggests).
        self.max_guilds_per_shard = sharding.MAX_GUILDS_PER_SHARD
        self.recommended_shards: int | None = None

    # -- users and guilds ------------------------------------------------------------------------

    def add_user(self, username: str, *, bot: bool = False, global_name: str | None = None) -> User:
        user = User(self.snowflakes.next(), username, global_name=global_name or username.capitalize(), bot=bot)
        self.users[user.id] = user
        return user

    @property
    def bot_user(self) -> User:
        return self.application.bot

    def add_guild(self, name: str, owner: User, *, shard: sharding.Shard | None = None) -> Guild:
        """A guild with @everyone, its owner and the bot (with its managed role); `shard=(1, 2)` picks an
        id that Discord routes to shard 1 of 2."""
        guild_id = self.snowflakes.next() if shard is None else self.snowflakes.next_on_shard(*shard)
        guild = Guild(guild_id, name, owner.id, joined_at=iso(self.clock.time()))
        guild.roles[guild_id] = Role(guild_id, guild_id, "@everyone", perms.EVERYONE_DEFAULT)
        self.guilds[guild_id] = guild
        self.add_member(guild, owner)
        bot_role = self.add_role(guild, self.bot_user.username, perms.BOT_INVITE, managed=True)
        bot_role.bot_id = self.bot_user.id
        self.add_member(guild, self.bot_user, roles=[bot_role])
        return guild

    def add_role(self, guild: Guild, name: str, permissions: int = 0, *, mentionable: bool = False,
                 managed: bool = False) -> Role:
        role = Role(self.snowflakes.next(), guild.id, name, permissions, position=len(guild.roles),
                    mentionable=mentionable, managed=managed)
        guild.roles[role.id] = role
        return role

    def add_member(self, guild: Guild, user: User, *, roles: list[Role] | None = None,
                   nick: str | None = None) -> Member:
        member = Member(user, guild.id, [r.id for r in roles or []], nick=nick, joined_at=iso(self.clock.time()))
        guild.members[user.id] = member
        return member

    def add_channel(self, guild: Guild, name: str, type: ChannelType = ChannelType.TEXT, *,
                    parent: Channel | None = None, nsfw: bool = False, topic: str | None = None,
                    owner: User | None = None) -> Channel:
        channel = Channel(self.snowflakes.next(), type, name, guild.id, position=len(guild.channels),
                          parent_id=parent.id if parent else None, nsfw=nsfw, topic=topic,
                          owner_id=owner.id if owner else None)
        guild.channels[channel.id] = channel
        return channel

    def dm_channel(self, user: User) -> Channel:
        """The bot's DM channel with the user, created on first use as Discord does."""
        for channel in self.dm_channels.values():
            if channel.recipients[0].id == user.id:
                return channel
        channel = Channel(self.snowflakes.next(), ChannelType.DM, recipients=[user])
        self.dm_channels[channel.id] = channel
        return channel

    # -- lookups ---------------------------------------------------------------------------------

    def find_channel(self, channel_id: int) -> tuple[Guild | None, Channel] | None:
        if channel_id in self.dm_channels:
            return None, self.dm_channels[channel_id]
        for guild in self.guilds.values():
            if channel_id in guild.channels:
                return guild, guild.channels[channel_id]
        return None

    def guild_of(self, channel: Channel) -> Guild | None:
        return self.guilds.get(channel.guild_id) if channel.guild_id else None

    def member(self, guild: Guild, user: User) -> Member | None:
        return guild.members.get(user.id)

    def bot_member(self, guild: Guild) -> Member:
        return guild.members[self.bot_user.id]

    def permissions(self, user: User, channel: Channel) -> int:
        """What the user may do in the channel; DMs allow what a DM allows its two people."""
        if channel.is_dm:
            return perms.DM if user.id == self.bot_user.id or user in channel.recipients else 0
        guild = self.guild_of(channel)
        member = guild.members.get(user.id) if guild else None
        if guild is None or member is None:
            return 0
        return perms.channel_permissions(guild, member, channel)

    def guilds_on_shard(self, shard_id: int, shard_count: int) -> list[Guild]:
        return [g for g in self.guilds.values() if sharding.shard_of(g.id, shard_count) == shard_id]

    def recommended_shard_count(self) -> int:
        return self.recommended_shards or sharding.recommended_shards(len(self.guilds))

    def new_session_id(self) -> str:
        return secrets.token_hex(16)


def add_standard_guild(world: World, name: str, *, shard: sharding.Shard | None = None) -> Guild:
    """A guild with the usual cast: an admin owner, a moderator, regular users, another bot.

    Channels: #general, #random, #nsfw (NSFW), a thread in #general, a voice channel, in categories.
    People are users of the whole world: alice in two guilds is one user with two memberships.
    """
    existing = {u.username: u for u in world.users.values()}

    def user(username: str, *, bot: bool = False) -> User:
        return existing.get(username) or world.add_user(username, bot=bot)

    alice = user("alice")  # guild owner and administrator
    guild = world.add_guild(name, alice, shard=shard)
    admin = world.add_role(guild, "Admin", perms.ADMINISTRATOR)
    moderator = world.add_role(guild, "Moderator", perms.MODERATOR, mentionable=True)
    guild.members[alice.id].role_ids.append(admin.id)
    world.add_member(guild, user("bob"), roles=[moderator])
    world.add_member(guild, user("carol"))
    world.add_member(guild, user("dave"))
    world.add_member(guild, user("otherbot", bot=True))
    text = world.add_channel(guild, "Text Channels", ChannelType.CATEGORY)
    voice = world.add_channel(guild, "Voice Channels", ChannelType.CATEGORY)
    general = world.add_channel(guild, "general", parent=text, topic="General chat")
    world.add_channel(guild, "random", parent=text)
    world.add_channel(guild, "nsfw", parent=text, nsfw=True)
    world.add_channel(guild, "general-thread", ChannelType.PUBLIC_THREAD, parent=general, owner=alice)
    world.add_channel(guild, "Voice", ChannelType.VOICE, parent=voice)
    return guild


def default_world(clock: Clock, snowflakes: Snowflakes, *, shards: int = 1) -> World:
    """"Emulator Guild" with the usual cast (see add_standard_guild).

    shards=N: one such guild per shard ("Emulator Guild" on shard 0, "Emulator Guild 2" on shard 1...),
    and GET /gateway/bot recommends N shards: `DiscordEmulator(world=partial(default_world, shards=2))`.
    """
    world = World(clock, snowflakes)
    for shard_id in range(shards):
        name = "Emulator Guild" if shard_id == 0 else f"Emulator Guild {shard_id + 1}"
        add_standard_guild(world, name, shard=(shard_id, shards) if shards > 1 else None)
    if shards > 1:
        world.recommended_shards = shards
    return world
