#!/usr/bin/env bash
# The import contracts of .importlinter (import-linter, pinned in requirements-dev.txt): exit 0 when all
# are kept, 1 naming the broken ones. Usage: bash scripts/check_architecture.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
[ -x .venv/bin/python ] || "$PY" -m venv .venv
[ -x .venv/bin/lint-imports ] || .venv/bin/python -m pip install -q --disable-pip-version-check -r requirements-dev.txt
exec .venv/bin/lint-imports .importlinter "$@"
