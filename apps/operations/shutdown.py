"""Graceful worker shutdown: SIGTERM lets in-flight tasks (and their exchange calls) finish, then exits.

Celery's soft shutdown (CELERY_WORKER_SOFT_SHUTDOWN_TIMEOUT) bounds the wait; tasks still running after
it are not acknowledged (acks_late) and return to the queue, where idempotent intents make the re-run
safe. The time from the signal to exit is recorded as graceful_shutdown_duration_seconds.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

from celery.signals import worker_shutdown, worker_shutting_down
from django.conf import settings

log = logging.getLogger(__name__)
_started: dict[str, float] = {}


def _record_file() -> Path:
    return Path(settings.DATA_DIR) / "last_worker_shutdown.json"


@worker_shutting_down.connect
def _on_shutting_down(sig: str = "", how: str = "", exitcode: int = 0, **kwargs) -> None:
    _started["at"] = time.monotonic()
    log.warning("worker shutting down (%s, %s): finishing in-flight tasks", sig, how)


@worker_shutdown.connect
def _on_shutdown(**kwargs) -> None:
    started = _started.get("at")
    if started is None:
        return
    duration = time.monotonic() - started
    log.warning("worker stopped gracefully in %.2f s", duration)
    try:
        from apps.monitoring import metrics

        metrics.GRACEFUL_SHUTDOWN.labels(process="worker").observe(duration)
        metrics.SHUTDOWNS.labels(process="worker", outcome="graceful" if duration <= 30 else "slow").inc()
    except Exception:  # metrics must never stand in the way of exiting
        log.exception("could not record the shutdown metric")
    try:
        _record_file().write_text(json.dumps({"duration_seconds": round(duration, 3), "at": time.time()}))
    except OSError:
        pass
