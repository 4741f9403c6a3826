#!/usr/bin/env bash
# README command 2: install, lint, and run the whole suite. With HCC_TEST_DATABASE_URL set to a
# throwaway PostgreSQL database the suite runs there instead of on SQLite. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/ruff check .
# The suite runs on every core (pytest-xdist; on PostgreSQL each worker makes its own database beside the
# one named). HCC_TEST_WORKERS=0 runs it in one process.
exec .venv/bin/python -m pytest -n "${HCC_TEST_WORKERS:-auto}" "$@"
