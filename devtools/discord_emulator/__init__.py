"""A local Discord (gateway, REST, interactions, voice) for running the real discord.py client in tests.

See README.md in this folder for how the bot is pointed at it and for the test API.
Exports load lazily so importing one submodule (e.g. the voice server) does not pull in the rest.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from devtools.discord_emulator.emulator import DiscordEmulator
    from devtools.discord_emulator.errors import EmulatorError

__all__ = ["DiscordEmulator", "EmulatorError"]


def __getattr__(name: str) -> Any:
    if name == "DiscordEmulator":
        from devtools.discord_emulator.emulator import DiscordEmulator

        return DiscordEmulator
    if name == "EmulatorError":
        from devtools.discord_emulator.errors import EmulatorError

        return EmulatorError
    raise AttributeError(name)
