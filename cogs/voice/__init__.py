"""The voice extension: commands and recovery (cog.py), a guild's live session (session.py), and the
receive path discord.py lacks (receive.py). Everything that needs no Discord is in services/voice."""

from cogs.voice.cog import Voice, render_settings, setup

__all__ = ["Voice", "render_settings", "setup"]
