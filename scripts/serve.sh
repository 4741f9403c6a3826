#!/usr/bin/env bash
# README command 1: install, then start the service on its embedded default (SQLite, sandboxes, a
# development signing certificate, jobs in the same process). Extra arguments go to `hcc serve`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/hcc serve "$@"
