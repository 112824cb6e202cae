"""What the operator sees at a glance on the admin index."""

from __future__ import annotations

from typing import Any

from apps.monitoring.models import ComponentHealth
from apps.reconciliation.models import ReconciliationRun
from apps.risk.selectors import trading_status
from apps.trading.selectors import positions_open, realized_pnl_today


def dashboard() -> dict[str, Any]:
    status = trading_status()
    components = list(ComponentHealth.objects.all())
    worst = "ok"
    for component in components:
        if component.status == "down":
            worst = "down"
        elif component.status == "degraded" and worst == "ok":
            worst = "degraded"
    return {
        "mode": status.mode,
        "trading": status,
        "open_positions": positions_open().count(),
        "pnl_today": realized_pnl_today(),
        "last_reconciliation": ReconciliationRun.objects.order_by("-started_at").first(),
        "health": worst if components else "not checked yet",
        "components": components,
    }
