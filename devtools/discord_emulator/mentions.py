"""Who a message really pings, from its content and allowed_mentions, as Discord computes it."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from devtools.discord_emulator import permissions as perms
from devtools.discord_emulator.world import Channel, User, World

USER = re.compile(r"<@!?(\d+)>")
ROLE = re.compile(r"<@&(\d+)>")
EVERYONE = re.compile(r"@(?:everyone|here)\b")


@dataclass(frozen=True)
class Mentions:
    users: list[int]
    roles: list[int]
    everyone: bool


def compute_mentions(world: World, channel: Channel, author: User, content: str,
                     allowed: dict[str, Any] | None, *, replied_user_id: int | None = None) -> Mentions:
    """No allowed_mentions means Discord's default: everything in the content pings (and the replied user).

    With allowed_mentions, only what it allows pings; `@everyone` also needs the author's
    Mention Everyone permission, a role mention needs the role to be mentionable or that permission.
    """
    if allowed is None:
        parse, allowed_users, allowed_roles, replied = {"users", "roles", "everyone"}, set(), set(), True
    else:
        parse = set(allowed.get("parse") or [])
        allowed_users = {int(u) for u in allowed.get("users") or []}
        allowed_roles = {int(r) for r in allowed.get("roles") or []}
        replied = bool(allowed.get("replied_user", False))
    users: list[int] = []
    for match in USER.finditer(content):
        user_id = int(match.group(1))
        if user_id in world.users and user_id not in users and ("users" in parse or user_id in allowed_users):
            users.append(user_id)
    if replied_user_id is not None and replied and replied_user_id not in users:
        users.append(replied_user_id)
    guild = world.guild_of(channel)
    if guild is None:
        return Mentions(users, [], False)
    can_mention_everyone = bool(world.permissions(author, channel) & perms.MENTION_EVERYONE)
    roles: list[int] = []
    for match in ROLE.finditer(content):
        role = guild.roles.get(int(match.group(1)))
        if role is None or role.id in roles:
            continue
        if ("roles" in parse or role.id in allowed_roles) and (role.mentionable or can_mention_everyone):
            roles.append(role.id)
    everyone = bool(EVERYONE.search(content)) and "everyone" in parse and can_mention_everyone
    return Mentions(users, roles, everyone)
