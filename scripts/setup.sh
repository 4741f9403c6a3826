#!/usr/bin/env bash
# Installs what the service and its tests need on a fresh Debian machine: system packages (when run as
# root and something is missing), a virtual environment in .venv, and the project with its dev extra.
set -euo pipefail
cd "$(dirname "$0")/.."

DEBS=(chromium chromium-driver poppler-utils qpdf softhsm2 opensc fonts-dejavu-core xmlsec1)
missing=()
for p in "${DEBS[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "installing Debian packages: ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "missing Debian packages (install them as root): ${missing[*]}" >&2
  fi
fi

PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip >/dev/null 2>&1 || true
.venv/bin/python -m pip install -q -e ".[dev]" 2>&1 | grep -v "^WARNING: Location" || true
.venv/bin/python -c "import api, core, fees, receipts, postal, carriers" # fail loudly if the install did not take
