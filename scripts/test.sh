#!/usr/bin/env bash
# README command 2: install, lint, and run the whole suite. With HCC_TEST_DATABASE_URL set to a
# throwaway PostgreSQL database the suite runs there instead of on SQLite. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/ruff check .
exec .venv/bin/python -m pytest "$@"
