"""INTERACTION_CREATE payloads built the way the Discord client builds them: from the synced command
definitions (option types, choices, required options, permissions, context) or from a message's components.

Anything a real user could not do (unknown option, missing required option, a command hidden by
default_member_permissions, a disabled button) raises EmulatorError instead of reaching the bot.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from devtools.discord_emulator import commands as cmd
from devtools.discord_emulator import payloads
from devtools.discord_emulator import permissions as perms
from devtools.discord_emulator.errors import EmulatorError
from devtools.discord_emulator.records import Attachment, MessageRecord
from devtools.discord_emulator.world import Channel, Member, Role, User, World

ATTACHMENT_SIZE_LIMIT = 10 * 1024 * 1024
USE_APPLICATION_COMMANDS = 1 << 31


def base_payload(world: World, interaction_id: int, token: str, type: int, channel: Channel, user: User,
                 data: dict[str, Any]) -> dict[str, Any]:
    guild = world.guild_of(channel)
    user_perms = world.permissions(user, channel)
    payload: dict[str, Any] = {
        "id": str(interaction_id), "application_id": str(world.application.id), "type": type, "token": token,
        "version": 1, "data": data, "channel_id": str(channel.id),
        "channel": payloads.channel(channel, permissions=user_perms), "locale": "en-US",
        "app_permissions": str(world.permissions(world.bot_user, channel) if guild else perms.DM),
        "entitlements": [], "entitlement_sku_ids": [], "attachment_size_limit": ATTACHMENT_SIZE_LIMIT,
    }
    if guild is not None:
        member = guild.members[user.id]
        payload.update(guild_id=str(guild.id), guild={"id": str(guild.id), "locale": "en-US", "features": []},
                       guild_locale="en-US", member=payloads.member(member, permissions=user_perms), context=0,
                       authorizing_integration_owners={"0": str(guild.id)})
    else:
        payload.update(user=payloads.user(user), context=1, authorizing_integration_owners={"0": "0"})
    return payload


def check_can_use(world: World, command: dict[str, Any], channel: Channel, user: User) -> None:
    """The client hides commands a user may not run here; the emulator refuses them the same way."""
    guild = world.guild_of(channel)
    name = command["name"]
    contexts = command.get("contexts")
    if guild is None:
        if (contexts is not None and 1 not in contexts) or (contexts is None and not command.get("dm_permission", True)):
            raise EmulatorError(f"/{name} is not available in DMs")
        return
    if contexts is not None and 0 not in contexts:
        raise EmulatorError(f"/{name} is not available in servers")
    member = guild.members.get(user.id)
    if member is None:
        raise EmulatorError(f"{user.username} is not a member of {guild.name}")
    if command.get("nsfw") and not channel.nsfw:
        raise EmulatorError(f"/{name} is age-restricted and #{channel.name} is not NSFW")
    if not world.permissions(user, channel) & USE_APPLICATION_COMMANDS:
        raise EmulatorError(f"{user.username} may not use application commands in #{channel.name}")
    needed = command.get("default_member_permissions")
    if needed is not None:
        base = perms.base_permissions(guild, member)
        if int(needed) & ~base:
            raise EmulatorError(f"{user.username} cannot see /{name}: it needs permissions {needed} "
                                f"(default_member_permissions) and has {base}")


class OptionBuilder:
    """Turns Python values into a command's option tree plus `resolved`, as the client would send them."""

    def __init__(self, world: World, channel: Channel, user: User,
                 new_attachment: Callable[..., Attachment], base_url: str) -> None:
        self.world = world
        self.channel = channel
        self.user = user
        self.guild = world.guild_of(channel)
        self.resolved: dict[str, dict[str, Any]] = {}
        self._new_attachment = new_attachment
        self._base_url = base_url

    def build(self, command: dict[str, Any], path: list[str], values: dict[str, Any], *,
              focused: str | None = None) -> list[dict[str, Any]]:
        definitions = command.get("options") or []
        label = f"/{command['name']}"
        if not path and any(o["type"] in (cmd.SUB_COMMAND, cmd.SUB_COMMAND_GROUP) for o in definitions):
            choices = [o["name"] for o in definitions]
            raise EmulatorError(f"{label} needs a subcommand, one of {choices}")
        if path:
            name, rest = path[0], path[1:]
            sub = next((o for o in definitions if o["name"] == name and o["type"] in (1, 2)), None)
            if sub is None:
                raise EmulatorError(f"{label} has no subcommand {name!r}")
            inner = self.build({"name": f"{command['name']} {name}", "options": sub.get("options") or []}, rest,
                               values, focused=focused)
            return [{"type": sub["type"], "name": name, "options": inner}]
        return self._values(label, definitions, values, focused)

    def _values(self, label: str, definitions: list[dict[str, Any]], values: dict[str, Any],
                focused: str | None) -> list[dict[str, Any]]:
        by_name = {o["name"]: o for o in definitions}
        options: list[dict[str, Any]] = []
        for key, value in values.items():
            name = key if key in by_name else key.replace("_", "-")
            if name not in by_name:
                raise EmulatorError(f"{label} has no option {key!r}; it has {sorted(by_name)}")
            definition = by_name[name]
            if focused in (key, name):
                options.append({"type": definition["type"], "name": name, "value": str(value), "focused": True})
            elif value is not None:
                options.append({"type": definition["type"], "name": name, "value": self._value(label, definition, value)})
        if focused is None:  # the client checks required options only on submit, not while typing
            given = {o["name"] for o in options}
            missing = [o["name"] for o in definitions if o.get("required") and o["name"] not in given]
            if missing:
                raise EmulatorError(f"{label} needs the required option(s) {missing}")
        return options

    def _value(self, label: str, o: dict[str, Any], value: Any) -> Any:
        kind, name = o["type"], f"{label} {o['name']}"
        if kind == cmd.STRING:
            if not isinstance(value, str):
                raise EmulatorError(f"{name} takes text, got {value!r}")
            if not o.get("min_length", 0) <= len(value) <= o.get("max_length", 6000):
                raise EmulatorError(f"{name} must be {o.get('min_length', 0)}-{o.get('max_length', 6000)} characters")
        elif kind in (cmd.INTEGER, cmd.NUMBER):
            if isinstance(value, bool) or not isinstance(value, int | float) or (kind == cmd.INTEGER and not isinstance(value, int)):
                raise EmulatorError(f"{name} takes a {'whole ' if kind == cmd.INTEGER else ''}number, got {value!r}")
            low, high = o.get("min_value"), o.get("max_value")
            if (low is not None and value < low) or (high is not None and value > high):
                raise EmulatorError(f"{name} must be between {low} and {high}, got {value}")
        elif kind == cmd.BOOLEAN:
            if not isinstance(value, bool):
                raise EmulatorError(f"{name} takes True or False, got {value!r}")
        elif kind in (cmd.USER_OPT, cmd.MENTIONABLE) and isinstance(value, Member | User):
            return str(self._resolve_user(value))
        elif kind in (cmd.ROLE, cmd.MENTIONABLE) and isinstance(value, Role):
            self.resolved.setdefault("roles", {})[str(value.id)] = payloads.role(value)
            return str(value.id)
        elif kind == cmd.CHANNEL and isinstance(value, Channel):
            types = o.get("channel_types")
            if types and int(value.type) not in types:
                raise EmulatorError(f"{name} accepts channel types {types}, not {int(value.type)}")
            data = payloads.channel(value, permissions=self.world.permissions(self.user, value))
            self.resolved.setdefault("channels", {})[str(value.id)] = data
            return str(value.id)
        elif kind == cmd.ATTACHMENT and isinstance(value, tuple):
            attachment: Attachment = self._new_attachment(*value)
            self.resolved.setdefault("attachments", {})[str(attachment.id)] = payloads.attachment(
                attachment, self._base_url)
            return str(attachment.id)
        else:
            raise EmulatorError(f"{name} (option type {kind}) cannot take {value!r}")
        choices = o.get("choices")
        if choices and value not in [c["value"] for c in choices]:
            raise EmulatorError(f"{name} must be one of {[c['value'] for c in choices]}, got {value!r}")
        return value

    def _resolve_user(self, value: Member | User) -> int:
        user = value.user if isinstance(value, Member) else value
        self.resolved.setdefault("users", {})[str(user.id)] = payloads.user(user)
        member = self.guild.members.get(user.id) if self.guild else None
        if member is not None:
            self.resolved.setdefault("members", {})[str(user.id)] = payloads.member(
                member, with_user=False, permissions=self.world.permissions(user, self.channel))
        return user.id


def walk_components(components: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every component, rows and containers included (classic and components v2 layouts)."""
    found: list[dict[str, Any]] = []
    for c in components:
        found.append(c)
        found += walk_components(c.get("components") or [])
        for key in ("component", "accessory"):
            if isinstance(c.get(key), dict):
                found += walk_components([c[key]])
    return found


def find_component(message: MessageRecord, custom_id: str) -> dict[str, Any]:
    for component in walk_components(message.components):
        if component.get("custom_id") == custom_id:
            if component.get("disabled"):
                raise EmulatorError(f"component {custom_id!r} is disabled")
            return component
    ids = [c["custom_id"] for c in walk_components(message.components) if "custom_id" in c]
    raise EmulatorError(f"message {message.id} has no component {custom_id!r}; it has {ids}")


def modal_components(modal: dict[str, Any], values: dict[str, Any]) -> list[dict[str, Any]]:
    """The submitted components, mirroring the modal's layout (action rows or labels)."""
    remaining = dict(values)

    def submitted(c: dict[str, Any]) -> dict[str, Any] | None:
        custom_id = c.get("custom_id")
        if custom_id is None:
            return None
        if c["type"] == 4:  # text input
            value = remaining.pop(custom_id, c.get("value") or "")
            if c.get("required", True) and not value:
                raise EmulatorError(f"modal field {custom_id!r} is required")
            if not c.get("min_length", 0) <= len(value) <= c.get("max_length", 4000):
                raise EmulatorError(f"modal field {custom_id!r} must be {c.get('min_length', 0)}-"
                                    f"{c.get('max_length', 4000)} characters")
            return {"type": 4, "custom_id": custom_id, "value": value}
        chosen = remaining.pop(custom_id, [])
        return {"type": c["type"], "custom_id": custom_id, "values": list(chosen)}

    result: list[dict[str, Any]] = []
    for top in modal.get("components") or []:
        if top["type"] == 1:
            inner = [s for s in (submitted(c) for c in top.get("components") or []) if s]
            result.append({"type": 1, "components": inner})
        elif top["type"] == 18 and isinstance(top.get("component"), dict):
            inner_component = submitted(top["component"])
            if inner_component:
                result.append({"type": 18, "id": top.get("id", 0), "component": inner_component})
    if remaining:
        raise EmulatorError(f"the modal has no field(s) {sorted(remaining)}")
    return result
