"""Celery signal handlers: task id and name on log records, task metrics, multiprocess file hygiene."""

from __future__ import annotations

import logging
import os
import time
from typing import Any

from celery import signals

from apps.exchange import limiter
from apps.monitoring import metrics
from apps.monitoring.multiproc import clean_dead, mark_dead
from tradebot.logging_config import context_reset, context_set

log = logging.getLogger(__name__)
_started: dict[str, tuple[float, dict]] = {}


def _task_prerun(task_id: str | None = None, task: Any = None, **_: Any) -> None:
    tokens = context_set(task_id=task_id, task_name=getattr(task, "name", None))
    _started[task_id or ""] = (time.perf_counter(), tokens)


def _task_postrun(task_id: str | None = None, task: Any = None, state: str | None = None, **_: Any) -> None:
    started, tokens = _started.pop(task_id or "", (None, {}))
    name = getattr(task, "name", "unknown")
    if started is not None:
        metrics.CELERY_TASK_DURATION.labels(task=name).observe(time.perf_counter() - started)
    metrics.CELERY_TASK_RUNS.labels(task=name, state=state or "unknown").inc()
    if state == "SUCCESS":  # the worker-missing alert watches this timestamp
        metrics.CELERY_TASK_LAST_SUCCESS.labels(task=name).set(time.time())
    limiter.sync_limiter_counters()
    context_reset(tokens)


def _task_failure(sender: Any = None, **_: Any) -> None:
    metrics.CELERY_TASK_FAILURES.labels(task=getattr(sender, "name", "unknown")).inc()


def _task_retry(sender: Any = None, **_: Any) -> None:
    metrics.CELERY_TASK_RETRIES.labels(task=getattr(sender, "name", "unknown")).inc()


def _worker_init(**_: Any) -> None:
    removed = clean_dead()
    if removed:
        log.info("removed %d metric files of exited processes", removed)


def _process_shutdown(**_: Any) -> None:
    mark_dead(os.getpid())


def connect() -> None:
    """Connect the handlers (from MonitoringConfig.ready, so every worker process has them)."""
    signals.task_prerun.connect(_task_prerun, weak=False, dispatch_uid="tb-monitoring-prerun")
    signals.task_postrun.connect(_task_postrun, weak=False, dispatch_uid="tb-monitoring-postrun")
    signals.task_failure.connect(_task_failure, weak=False, dispatch_uid="tb-monitoring-failure")
    signals.task_retry.connect(_task_retry, weak=False, dispatch_uid="tb-monitoring-retry")
    signals.worker_init.connect(_worker_init, weak=False, dispatch_uid="tb-monitoring-worker-init")
    signals.beat_init.connect(_worker_init, weak=False, dispatch_uid="tb-monitoring-beat-init")
    signals.worker_process_shutdown.connect(_process_shutdown, weak=False, dispatch_uid="tb-monitoring-proc-down")
