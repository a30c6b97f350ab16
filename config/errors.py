"""Settings errors: one names its setting; several are reported together, so a newcomer fixes them in one go."""

from __future__ import annotations

from collections.abc import Sequence


class SettingsError(ValueError):
    """A setting is missing or invalid; the message names it and says what is accepted."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(f"{name} {message}")
        self.setting = name
        self.errors: list[SettingsError] = [self]


class SettingsErrors(SettingsError):
    """More than one setting is wrong; `errors` has each, in declaration order (str: one per line)."""

    def __init__(self, errors: Sequence[SettingsError]) -> None:
        ValueError.__init__(self, "\n".join(str(e) for e in errors))
        self.setting = errors[0].setting
        self.errors = list(errors)


def combined(errors: Sequence[SettingsError]) -> SettingsError:
    return errors[0] if len(errors) == 1 else SettingsErrors(errors)
