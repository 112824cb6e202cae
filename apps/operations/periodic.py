"""Running a periodic task once across all workers, and recording its last run for beat freshness."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from django.db.models import F
from django.utils import timezone

from apps.operations.locks import singleton
from apps.operations.models import TaskRun

log = logging.getLogger(__name__)


def run_periodic(name: str, work: Callable[[], Any], *, lease_seconds: float) -> Any:
    """Run `work` if no other worker is running task `name`; skip otherwise. Returns work's result,
    or None when skipped. The lease outlives the expected run time; it expires by itself if we die."""
    with singleton(name, lease_seconds) as held:
        if not held:
            log.info("periodic task %s skipped: another worker holds it", name)
            _record(name, "skipped")
            return None
        started = time.perf_counter()
        TaskRun.objects.update_or_create(name=name, defaults={"last_started_at": timezone.now()})
        try:
            result = work()
        except Exception as exc:
            _record(name, "failed", error=f"{type(exc).__name__}: {exc}", started=started)
            raise
        _record(name, "ok", started=started)
        return result


def _record(name: str, status: str, *, error: str = "", started: float | None = None) -> None:
    duration = (time.perf_counter() - started) * 1000 if started is not None else 0.0
    updates: dict[str, Any] = {"last_status": status, "last_error": error[:2000]}
    if status != "skipped":
        updates.update(
            last_finished_at=timezone.now(),
            last_duration_ms=duration,
            runs=F("runs") + 1,
            failures=F("failures") + (1 if status == "failed" else 0),
        )
    if not TaskRun.objects.filter(name=name).update(**updates):
        TaskRun.objects.get_or_create(name=name)
        TaskRun.objects.filter(name=name).update(**updates)
    if status == "skipped":
        from apps.monitoring import metrics

        metrics.PERIODIC_SKIPPED.labels(task=name.split(":")[0]).inc()
