"""Discord's error answers (status, JSON code, message) and the emulator's own misuse error."""

from __future__ import annotations

from typing import Any


class EmulatorError(Exception):
    """The test asked for something a Discord user could not do (unknown command, no permission...)."""


class DiscordError(Exception):
    """An HTTP error answer in Discord's shape: {"message": ..., "code": ..., "errors": {...}}."""

    def __init__(self, status: int, code: int, message: str, errors: dict[str, Any] | None = None) -> None:
        super().__init__(f"{status} {code} {message}")
        self.status = status
        self.code = code
        self.message = message
        self.errors = errors

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"message": self.message, "code": self.code}
        if self.errors:
            body["errors"] = self.errors
        return body


def unauthorized() -> DiscordError:
    return DiscordError(401, 0, "401: Unauthorized")


def not_found() -> DiscordError:
    return DiscordError(404, 0, "404: Not Found")


def unknown(what: str) -> DiscordError:
    codes = {"Channel": 10003, "Guild": 10004, "Member": 10007, "Message": 10008, "Role": 10011,
             "User": 10013, "Webhook": 10015, "Emoji": 10014, "application command": 10063,
             "interaction": 10062}
    return DiscordError(404, codes[what], f"Unknown {what}")


def already_acknowledged() -> DiscordError:
    return DiscordError(400, 40060, "Interaction has already been acknowledged.")


def missing_access() -> DiscordError:
    return DiscordError(403, 50001, "Missing Access")


def missing_permissions() -> DiscordError:
    return DiscordError(403, 50013, "Missing Permissions")


def cannot_edit_others() -> DiscordError:
    return DiscordError(403, 50005, "Cannot edit a message authored by another user")


def cannot_dm() -> DiscordError:
    return DiscordError(403, 50007, "Cannot send messages to this user")


def not_text_channel() -> DiscordError:
    return DiscordError(400, 50008, "Cannot send messages in a non-text channel")


def empty_message() -> DiscordError:
    return DiscordError(400, 50006, "Cannot send an empty message")


def invalid_webhook_token() -> DiscordError:
    return DiscordError(401, 50027, "Invalid Webhook Token")


def invalid_form_body(errors: dict[str, Any]) -> DiscordError:
    return DiscordError(400, 50035, "Invalid Form Body", errors)


def field_error(code: str, message: str) -> dict[str, Any]:
    return {"_errors": [{"code": code, "message": message}]}


class FormErrors:
    """Collects field errors at nested paths, rendered the way Discord nests them."""

    def __init__(self) -> None:
        self.tree: dict[str, Any] = {}

    def add(self, path: tuple[str | int, ...], code: str, message: str) -> None:
        node = self.tree
        for part in path:
            node = node.setdefault(str(part), {})
        node.setdefault("_errors", []).append({"code": code, "message": message})

    def too_long(self, path: tuple[str | int, ...], limit: int) -> None:
        self.add(path, "BASE_TYPE_MAX_LENGTH", f"Must be {limit} or fewer in length.")

    def required(self, path: tuple[str | int, ...]) -> None:
        self.add(path, "BASE_TYPE_REQUIRED", "This field is required")

    def raise_if_any(self) -> None:
        if self.tree:
            raise invalid_form_body(self.tree)
