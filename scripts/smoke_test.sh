#!/usr/bin/env bash
# The pre-deployment checklist against a running deployment, one line per check; exit 0 only when all hold:
# health, a reconciliation against the exchange (POST /api/reconcile), readiness, the metric families,
# rate limits, the alert rules (promtool), a protective exit created and triggered (simulator or paper),
# and a worker that runs. Usage: scripts/smoke_test.sh [BASE_URL]   (default http://127.0.0.1:8000)
# Settings: SMOKE_API_TOKEN, METRICS_TOKEN, SMOKE_SIMULATOR_URL, PROMETHEUS_URL ... (see scripts/smoke_test.py).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=python3
[ -x .venv/bin/python ] && PY=.venv/bin/python
exec "$PY" scripts/smoke_test.py "$@"
