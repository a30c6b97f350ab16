#!/usr/bin/env bash
# Chat with the real bot in your terminal: a local Discord, the bot, a model (your Ollama if it answers,
# else a built-in echo model) and an offline Wikipedia and web search. No token, no internet needed.
# Type `help` inside for what you can do. Arguments: --ollama-host URL, --ollama-model NAME.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh requirements-playground.txt
exec .venv/bin/python -m devtools.playground "$@"
