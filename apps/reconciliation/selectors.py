"""Reading reconciliation runs."""

from __future__ import annotations

from typing import Any

from apps.reconciliation.models import ReconciliationRun


def run_summary(run: ReconciliationRun) -> dict[str, Any]:
    """What a command, the API or a task result shows of one run."""
    by_kind: dict[str, int] = {}
    for kind in run.discrepancies.values_list("kind", flat=True):
        by_kind[kind] = by_kind.get(kind, 0) + 1
    return {
        "id": run.pk,
        "status": run.status,
        "trigger": run.trigger,
        "symbols": list(run.symbols),
        "started_at": run.started_at.isoformat(),
        "finished_at": run.finished_at.isoformat() if run.finished_at else None,
        "checked": run.checked,
        "fixed": run.fixed,
        "imported": run.imported,
        "missing": run.missing,
        "exchange_calls": run.exchange_calls,
        "discrepancies": by_kind,
        "error": run.error,
    }
