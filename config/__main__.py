"""`python -m config --env-example` prints .env.example from the setting declarations;
`python -m config --health [--env-file FILE]` exits 0 when the running bot is connected (Docker HEALTHCHECK)."""

import argparse
import os
import sys
from pathlib import Path

from config.environment import EnvFileError, read_environment
from config.healthcheck import check_health
from config.settings import SettingsError, env_example, load_settings


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m config")
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--env-example", action="store_true", help="print .env.example")
    action.add_argument("--health", action="store_true", help="exit 0 if the running bot is connected to Discord")
    parser.add_argument("--env-file", type=Path, default=None, help="settings file (default: ./.env, if there is one)")
    args = parser.parse_args()
    if args.env_example:
        sys.stdout.write(env_example())
        return 0
    try:
        settings = load_settings(read_environment(args.env_file, os.environ), require_token=False)
    except (EnvFileError, SettingsError) as exc:
        print(f"unhealthy: configuration error: {str(exc).splitlines()[0]}")
        return 1
    healthy, reason = check_health(settings)
    print(f"{'healthy' if healthy else 'unhealthy'}: {reason}")
    return 0 if healthy else 1


if __name__ == "__main__":
    sys.exit(main())
