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


@shared_task(name="backtest.sweep_prepare", acks_late=True, soft_time_limit=900, time_limit=960)
def sweep_prepare_task(sweep_id: int) -> dict[str, Any]:
    """Read a sweep's candles once, create its runs and queue them (POST /api/backtests/sweeps)."""
    from apps.backtest.models import BacktestSweep
    from apps.backtest.sweeps import sweep_prepare

    sweep = BacktestSweep.objects.filter(pk=sweep_id).first()
    if sweep is None:
        return {"id": sweep_id, "status": "missing"}
    try:
        sweep_prepare(sweep=sweep)
    except Exception:  # stored on the sweep (status failed, error); a worker must not retry it
        pass
    return {"id": sweep_id, "status": sweep.status}


@shared_task(name="backtest.sweep_run", acks_late=True, soft_time_limit=900, time_limit=960)
def sweep_run_task(run_id: int) -> dict[str, Any]:
    """Run one combination of a sweep; returns its status (the run row holds the outcome)."""
    from apps.backtest.sweeps import sweep_run_execute

    run = sweep_run_execute(run_id=run_id)
    return {"id": run_id, "status": run.status if run else "missing"}
