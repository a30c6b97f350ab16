#!/usr/bin/env bash
# Sets up a fresh Debian machine for the bot: system packages for voice (and PostgreSQL for the tests),
# a virtualenv, requirements.
# Usage: scripts/setup.sh [requirements-file]   (default requirements.txt; tests use requirements-dev.txt)
# Safe to run again: each step is skipped when already done.
set -euo pipefail
cd "$(dirname "$0")/.."
REQS="${1:-requirements.txt}"
PYTHON="${PYTHON:-python3}"

need_apt=()
command -v ffmpeg >/dev/null 2>&1 || need_apt+=(ffmpeg)
# The same look-up discord.py makes to load opus; no pipeline, so no SIGPIPE under pipefail.
"$PYTHON" -c 'import ctypes.util, sys; sys.exit(ctypes.util.find_library("opus") is None)' 2>/dev/null \
  || need_apt+=(libopus0)
"$PYTHON" -c 'import venv, ensurepip' 2>/dev/null || need_apt+=(python3-venv)
# Tests only: a real PostgreSQL server (devtools/postgres.py makes a throwaway cluster with initdb/pg_ctl,
# which Debian keeps off PATH in /usr/lib/postgresql/<version>/bin).
need_postgres=false
if [ "$(basename "$REQS")" = "requirements-dev.txt" ] && ! command -v pg_ctl >/dev/null 2>&1 \
    && ! compgen -G '/usr/lib/postgresql/*/bin/pg_ctl' >/dev/null; then
  need_postgres=true
  need_apt+=(postgresql)
fi
if [ ${#need_apt[@]} -gt 0 ]; then
  SUDO=()
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
      SUDO=(sudo)
    else
      echo "setup.sh: missing system packages (${need_apt[*]}) and no sudo to install them:" \
           "run 'apt-get install ${need_apt[*]}' as root, then run this again." >&2
      exit 1
    fi
  fi
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "setup.sh: missing system packages (${need_apt[*]}) and no apt-get:" \
         "install them with your system's package manager, then run this again." >&2
    exit 1
  fi
  echo "Installing system packages: ${need_apt[*]}"
  "${SUDO[@]}" apt-get update -qq
  if $need_postgres; then
    # Only the server programs are wanted: no system-wide "main" cluster created and left running.
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql-common >/dev/null
    "${SUDO[@]}" sed -ri 's/^#?[[:space:]]*create_main_cluster[[:space:]]*=.*/create_main_cluster = false/' \
      /etc/postgresql-common/createcluster.conf
  fi
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

if [ ! -x .venv/bin/python ]; then
  echo "Creating virtualenv .venv"
  "$PYTHON" -m venv .venv
fi

# Reinstall only when the requirement files changed.
stamp=".venv/.installed-$(basename "$REQS")"
digest=$(cat requirements*.txt | sha256sum | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$digest" ]; then
  echo "Installing Python requirements from $REQS"
  .venv/bin/python -m pip install -q --disable-pip-version-check -r "$REQS"
  echo "$digest" > "$stamp"
fi
