"""Settings: declared in settings.py, loaded once by main.py and passed down."""

from config.settings import ModelRef, Settings, SettingsError, SettingsErrors, env_example, load_settings

__all__ = ["ModelRef", "Settings", "SettingsError", "SettingsErrors", "env_example", "load_settings"]
