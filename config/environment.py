"""Where settings come from: the real environment, over a .env file."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from dotenv import dotenv_values

DEFAULT_ENV_FILE = Path(".env")


class EnvFileError(Exception):
    """The settings file named with --env-file cannot be read; the message says which and why."""


def read_environment(env_file: Path | None, environ: Mapping[str, str]) -> dict[str, str]:
    """The file's values, overridden by the real environment. ./.env is optional; a file named
    explicitly must exist, so a typo in --env-file is not silently a run with no settings."""
    path = env_file or DEFAULT_ENV_FILE
    if env_file is not None and not path.exists():
        raise EnvFileError(f"--env-file {path}: no such file")
    if path.is_dir():
        raise EnvFileError(f"{'--env-file ' if env_file is not None else ''}{path} is a folder, not a settings file")
    if not path.exists():
        return dict(environ)
    try:
        with path.open(encoding="utf-8") as stream:
            values = dotenv_values(stream=stream)
    except (OSError, UnicodeDecodeError) as exc:
        raise EnvFileError(f"{path} cannot be read: {getattr(exc, 'strerror', None) or exc}") from None
    return {**{k: v for k, v in values.items() if v is not None}, **environ}
