#!/usr/bin/env bash
# Set up (if needed) and run the bot. Settings come from .env (copy .env.example) or the environment.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh requirements.txt
exec .venv/bin/python main.py "$@"
