"""The worker side of `POST /api/backtests`."""

from __future__ import annotations

from typing import Any

from celery import shared_task


# A long range is paged from the exchange and replayed in one go: more time than the default task budget.
@shared_task(name="backtest.run", acks_late=True, soft_time_limit=900, time_limit=960)
def backtest_run_task(run_id: int) -> dict[str, Any]:
    """Execute queued run `run_id`; returns its status (the run row holds the outcome)."""
    from apps.backtest.services import backtest_execute

    run = backtest_execute(run_id=run_id)
    return {"id": run_id, "status": run.status if run else "missing"}
