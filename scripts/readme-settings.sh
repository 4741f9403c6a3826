#!/usr/bin/env bash
# Rewrite the README's settings table from the settings the code registers (`hcc settings --markdown`).
set -euo pipefail
cd "$(dirname "$0")/.."
table=$(.venv/bin/hcc settings --markdown)
python3 - "$table" <<'PY'
import re, sys
readme = open("README.md").read()
start = readme.index("<!-- settings:start")
start = readme.index("\n", start) + 1
end = readme.index("<!-- settings:end -->")
open("README.md", "w").write(readme[:start] + sys.argv[1] + "\n" + readme[end:])
PY
