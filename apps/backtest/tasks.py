"""The backtest's Celery tasks, where Celery's autodiscovery looks for them (`apps.<app>.tasks`).

Each is defined beside the service it runs (a run in services, a sweep's preparation and combinations in
sweeps), so queuing one needs no import back from here.
"""

from apps.backtest.services import backtest_run_task
from apps.backtest.sweeps import sweep_prepare_task, sweep_run_task

__all__ = ["backtest_run_task", "sweep_prepare_task", "sweep_run_task"]
