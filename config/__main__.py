"""`python -m config --env-example` prints .env.example from the setting declarations;
`python -m config --health [--env-file FILE]` exits 0 when the running bot is connected (Docker HEALTHCHECK);
`python -m config --migrate-sqlite-to DATABASE_URL` copies the SQLite database at DATABASE_PATH into an
empty PostgreSQL database, verified by counts (the file is only read)."""

import argparse
import asyncio
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
    action.add_argument("--migrate-sqlite-to", metavar="DATABASE_URL",
                        help="copy the SQLite database at DATABASE_PATH into this empty PostgreSQL database")
    parser.add_argument("--env-file", type=Path, default=None, help="settings file (default: ./.env, if there is one)")
    args = parser.parse_args()
    if args.env_example:
        sys.stdout.write(env_example())
        return 0
    try:
        settings = load_settings(read_environment(args.env_file, os.environ), require_token=False)
    except (EnvFileError, SettingsError) as exc:
        if args.migrate_sqlite_to is not None:
            print(f"Configuration error: {exc}", file=sys.stderr)
            return 2
        print(f"unhealthy: configuration error: {str(exc).splitlines()[0]}")
        return 1
    if args.migrate_sqlite_to is not None:
        return migrate(settings.database_file, args.migrate_sqlite_to)
    healthy, reason = check_health(settings)
    print(f"{'healthy' if healthy else 'unhealthy'}: {reason}")
    return 0 if healthy else 1


def migrate(path: Path, url: str) -> int:
    from services.redact import describe_url
    from services.storage import StorageError
    from services.storage.transfer import copy_sqlite_to_postgres

    try:
        load_settings({"DATABASE_URL": url}, require_token=False)  # the same check as at start-up
    except SettingsError as exc:
        print(f"Configuration error: {exc}", file=sys.stderr)
        return 2
    where = describe_url(url)
    print(f"Copying SQLite {path} into PostgreSQL {where} (the file is only read)")
    try:
        copied = asyncio.run(copy_sqlite_to_postgres(path, url, progress=lambda c: print(f"  {c.table}: {c.rows} rows")))
    except StorageError as exc:
        print(f"Not copied: {exc}", file=sys.stderr)
        return 1
    total = sum(c.rows for c in copied)
    print(f"Copied {total} rows in {len(copied)} tables; every count matches. {path} is unchanged. "
          "Set DATABASE_URL to this database to use it.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
