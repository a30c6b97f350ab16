"""Application commands as Discord stores them: bulk overwrite/upsert with validation, lookup by name."""

from __future__ import annotations

from typing import Any

from devtools.discord_emulator.errors import FormErrors, unknown
from devtools.discord_emulator.snowflake import Snowflakes

CHAT_INPUT, USER, MESSAGE = 1, 2, 3
SUB_COMMAND, SUB_COMMAND_GROUP = 1, 2
STRING, INTEGER, BOOLEAN, USER_OPT, CHANNEL, ROLE, MENTIONABLE, NUMBER, ATTACHMENT = 3, 4, 5, 6, 7, 8, 9, 10, 11
MAX_COMMANDS = 100
MAX_OPTIONS = 25
MAX_CHOICES = 25


def _valid_name(name: Any, *, lowercase: bool) -> bool:
    if not isinstance(name, str) or not 1 <= len(name) <= 32:
        return False
    if lowercase and name != name.lower():
        return False
    return all(ch.isalnum() or ch in "-_'" for ch in name)


def validate_commands(commands: list[dict[str, Any]]) -> None:
    """Discord's checks that catch real mistakes: names, descriptions, option order and counts."""
    errors = FormErrors()
    if not isinstance(commands, list):
        errors.add((), "BASE_TYPE_ARRAY", "Must be an array.")
        errors.raise_if_any()
    if sum(1 for c in commands if c.get("type", CHAT_INPUT) == CHAT_INPUT) > MAX_COMMANDS:
        errors.too_long((), MAX_COMMANDS)
    seen: set[tuple[int, str]] = set()
    for i, command in enumerate(commands):
        kind = command.get("type", CHAT_INPUT)
        path = (i,)
        if kind not in (CHAT_INPUT, USER, MESSAGE):
            errors.add((*path, "type"), "BASE_TYPE_CHOICES", "Value must be one of {1, 2, 3}.")
            continue
        name = command.get("name")
        if not _valid_name(name, lowercase=kind == CHAT_INPUT) and not (kind != CHAT_INPUT and name):
            errors.add((*path, "name"), "APPLICATION_COMMAND_INVALID_NAME", "Command name is invalid")
        if (kind, name) in seen:
            errors.add((*path, "name"), "APPLICATION_COMMANDS_DUPLICATE_NAME", "Application command names must be unique")
        seen.add((kind, str(name)))
        description = command.get("description") or ""
        if kind == CHAT_INPUT and not 1 <= len(description) <= 100:
            errors.add((*path, "description"), "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100 in length.")
        if kind != CHAT_INPUT and description:
            errors.add((*path, "description"), "APPLICATION_COMMAND_CONTEXT_MENU_DESCRIPTION",
                       "Context menu commands cannot have description")
        _validate_options(command.get("options") or [], (*path, "options"), errors, depth=0)
    errors.raise_if_any()


def _validate_options(options: list[dict[str, Any]], path: tuple[Any, ...], errors: FormErrors, *, depth: int) -> None:
    if len(options) > MAX_OPTIONS:
        errors.too_long(path, MAX_OPTIONS)
    kinds = {o.get("type") for o in options}
    if kinds & {SUB_COMMAND, SUB_COMMAND_GROUP} and kinds - {SUB_COMMAND, SUB_COMMAND_GROUP}:
        errors.add(path, "APPLICATION_COMMAND_OPTIONS_TYPE_INVALID",
                   "Sub-command and sub-command group option types are mutually exclusive to all other types")
    optional_seen = False
    names: set[str] = set()
    for j, option in enumerate(options):
        opath = (*path, j)
        kind = option.get("type")
        if kind not in range(1, 12):
            errors.add((*opath, "type"), "BASE_TYPE_CHOICES", "Value must be one of {1..11}.")
            continue
        if not _valid_name(option.get("name"), lowercase=True):
            errors.add((*opath, "name"), "APPLICATION_COMMAND_INVALID_NAME", "Command name is invalid")
        if option.get("name") in names:
            errors.add((*opath, "name"), "APPLICATION_COMMAND_OPTIONS_NAME_ALREADY_EXISTS", "Option names must be unique")
        names.add(str(option.get("name")))
        if not 1 <= len(option.get("description") or "") <= 100:
            errors.add((*opath, "description"), "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100 in length.")
        if kind in (SUB_COMMAND, SUB_COMMAND_GROUP):
            if (kind == SUB_COMMAND_GROUP and depth > 0) or (kind == SUB_COMMAND and depth > 1):
                errors.add(opath, "APPLICATION_COMMAND_OPTIONS_TYPE_INVALID", "Sub-commands nest at most two deep")
            _validate_options(option.get("options") or [], (*opath, "options"), errors, depth=depth + 1)
            continue
        if option.get("required"):
            if optional_seen:
                errors.add(opath, "APPLICATION_COMMAND_OPTIONS_REQUIRED_INVALID",
                           "Required options must be placed before non-required options")
        else:
            optional_seen = True
        choices = option.get("choices") or []
        if len(choices) > MAX_CHOICES:
            errors.too_long((*opath, "choices"), MAX_CHOICES)
        if choices and option.get("autocomplete"):
            errors.add((*opath, "autocomplete"), "APPLICATION_COMMAND_AUTOCOMPLETE_INVALID",
                       "Autocomplete cannot be set on an option with choices")
        for k, choice in enumerate(choices):
            if not 1 <= len(choice.get("name") or "") <= 100:
                errors.add((*opath, "choices", k, "name"), "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100 in length.")


class CommandStore:
    """Global and per-guild commands; ids stay stable across overwrites of the same name, as on Discord."""

    def __init__(self, application_id: int, snowflakes: Snowflakes) -> None:
        self.application_id = application_id
        self._snowflakes = snowflakes
        self.global_commands: list[dict[str, Any]] = []
        self.guild_commands: dict[int, list[dict[str, Any]]] = {}

    def commands(self, guild_id: int | None) -> list[dict[str, Any]]:
        return self.global_commands if guild_id is None else self.guild_commands.setdefault(guild_id, [])

    def overwrite(self, guild_id: int | None, commands: list[dict[str, Any]]) -> list[dict[str, Any]]:
        validate_commands(commands)
        old = {(c["type"], c["name"]): c for c in self.commands(guild_id)}
        stored = [self._store(guild_id, c, old.get((c.get("type", CHAT_INPUT), c["name"]))) for c in commands]
        if guild_id is None:
            self.global_commands = stored
        else:
            self.guild_commands[guild_id] = stored
        return stored

    def upsert(self, guild_id: int | None, command: dict[str, Any]) -> dict[str, Any]:
        validate_commands([command])
        current = self.commands(guild_id)
        key = (command.get("type", CHAT_INPUT), command["name"])
        existing = next((c for c in current if (c["type"], c["name"]) == key), None)
        stored = self._store(guild_id, command, existing)
        if existing is not None:
            current[current.index(existing)] = stored
        else:
            current.append(stored)
        return stored

    def edit(self, guild_id: int | None, command_id: int, changes: dict[str, Any]) -> dict[str, Any]:
        existing = self.get(guild_id, command_id)
        return self.upsert(guild_id, {**existing, **changes, "name": changes.get("name", existing["name"])})

    def delete(self, guild_id: int | None, command_id: int) -> None:
        current = self.commands(guild_id)
        current.remove(self.get(guild_id, command_id))

    def get(self, guild_id: int | None, command_id: int) -> dict[str, Any]:
        for command in self.commands(guild_id):
            if int(command["id"]) == command_id:
                return command
        raise unknown("application command")

    def find(self, name: str, guild_id: int | None, *, type: int = CHAT_INPUT) -> dict[str, Any] | None:
        """The command a user in this guild (or DM, guild_id None) would see; guild commands win."""
        scopes = ([self.guild_commands.get(guild_id, [])] if guild_id is not None else []) + [self.global_commands]
        for commands in scopes:
            for command in commands:
                if command["name"] == name and command["type"] == type:
                    return command
        return None

    def _store(self, guild_id: int | None, command: dict[str, Any], old: dict[str, Any] | None) -> dict[str, Any]:
        stored = {
            "id": old["id"] if old else str(self._snowflakes.next()),
            "application_id": str(self.application_id),
            "version": str(self._snowflakes.next()),
            "type": command.get("type", CHAT_INPUT),
            "name": command["name"],
            "description": command.get("description", ""),
            "options": command.get("options") or [],
            "default_member_permissions": command.get("default_member_permissions"),
            "dm_permission": command.get("dm_permission", True),
            "contexts": command.get("contexts"),
            "integration_types": command.get("integration_types") or [0],
            "nsfw": command.get("nsfw", False),
            "name_localizations": command.get("name_localizations"),
            "description_localizations": command.get("description_localizations"),
        }
        if guild_id is not None:
            stored["guild_id"] = str(guild_id)
        return stored
