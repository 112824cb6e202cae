"""Running a periodic task once across all workers, and recording its runs for beat freshness."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from django.db.models import F
from django.utils import timezone

from apps.monitoring import metrics
from apps.operations.locks import LEASE_TTL_SEC, singleton
from apps.operations.models import TaskRun
from apps.operations.shutdown import ShutdownRequested

log = logging.getLogger(__name__)


def run_periodic(name: str, work: Callable[[], Any], *, lease_seconds: float = LEASE_TTL_SEC) -> Any:
    """Run `work` if no other worker is running task `name`; skip otherwise. Returns work's result,
    or None when skipped or cut short by a worker shutdown.

    The lease is short and renewed while `work` runs, so it dies with its holder. A run row still
    `running` when we get the lease belongs to a holder that died: it is closed as failed first."""
    with singleton(name, lease_seconds) as held:
        if not held:
            log.info("periodic task %s skipped: another worker holds it", name)
            _record(name, "skipped")
            return None
        _close_abandoned(name)
        started = time.perf_counter()
        now = timezone.now()
        if not TaskRun.objects.filter(name=name).update(last_started_at=now, last_seen_at=now, last_status="running"):
            TaskRun.objects.update_or_create(
                name=name, defaults={"last_started_at": now, "last_seen_at": now, "last_status": "running"}
            )
        try:
            result = work()
        except ShutdownRequested as exc:
            log.warning("periodic task %s cut short: %s", name, exc)
            _record(name, "interrupted", error=str(exc), started=started)
            return None
        except Exception as exc:
            _record(name, "failed", error=f"{type(exc).__name__}: {exc}", started=started)
            raise
        _record(name, "ok", started=started)
        return result


def _close_abandoned(name: str) -> None:
    """We hold the lease, so a `running` row is a run whose worker died (its lease lapsed)."""
    stale = TaskRun.objects.filter(name=name, last_status="running").first()
    if stale is None:
        return
    log.warning("periodic task %s: the run started at %s never finished; closed as failed", name, stale.last_started_at)
    TaskRun.objects.filter(pk=stale.pk, last_status="running").update(
        last_status="failed",
        last_error=f"abandoned: the worker running it since {stale.last_started_at:%Y-%m-%d %H:%M:%S} stopped",
        last_finished_at=timezone.now(),
        runs=F("runs") + 1,
        failures=F("failures") + 1,
    )

    metrics.PERIODIC_ABANDONED.labels(task=name.split(":")[0]).inc()


def _record(name: str, status: str, *, error: str = "", started: float | None = None) -> None:
    duration = (time.perf_counter() - started) * 1000 if started is not None else 0.0
    now = timezone.now()
    updates: dict[str, Any] = {"last_seen_at": now}
    if status == "skipped":
        # The holder's own row says `running`; a skip only shows that beat and a worker are alive.
        pass
    else:
        updates.update(
            last_status=status,
            last_error=error[:2000],
            last_finished_at=now,
            last_duration_ms=duration,
            runs=F("runs") + 1,
            failures=F("failures") + (1 if status == "failed" else 0),
        )
    if not TaskRun.objects.filter(name=name).update(**updates):
        TaskRun.objects.get_or_create(name=name, defaults={"last_status": status})
        TaskRun.objects.filter(name=name).update(**updates)
    if status == "skipped":
        metrics.PERIODIC_SKIPPED.labels(task=name.split(":")[0]).inc()
