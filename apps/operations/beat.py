"""The beat scheduler: django-celery-beat's, plus the environment's schedule at start and a path around the broker.

- At start the environment's schedule is written into the database (`ensure_schedule`), so a changed
  RECONCILE_INTERVAL_SEC takes effect on restart unless an operator changed that entry in the admin.
- When the broker refuses a due message (Redis down), the protective tasks — the exits check and the
  health monitor — are run by beat itself instead of being dropped: stops and take-profits keep their guard
  and the outage is detected and alerted (alerts then go out directly, see apps.notifications.delivery). Their
  leases fall back to the database while Redis is away, so they still run once at a time.
"""

from __future__ import annotations

import logging

from django.db import close_old_connections
from django_celery_beat.schedulers import DatabaseScheduler

from apps.monitoring import metrics
from apps.operations.preflight import require_services
from apps.operations.schedule import ensure_schedule

log = logging.getLogger(__name__)

# Tasks beat runs itself when they cannot be enqueued (short, bounded, and what keeps money and operators safe).
IN_PROCESS_WHEN_BROKER_DOWN = frozenset({"exits.check", "monitoring.health_check"})


class Scheduler(DatabaseScheduler):
    def setup_schedule(self) -> None:
        require_services("beat")  # before the first query, so a wrong DATABASE_URL is named, not a traceback
        written = ensure_schedule()
        if written:
            log.info("beat schedule entries written from the environment: %s", ", ".join(written))
        super().setup_schedule()

    def apply_entry(self, entry, producer=None) -> None:
        log.info("Scheduler: Sending due task %s (%s)", entry.name, entry.task)
        try:
            self.apply_async(entry, producer=producer, advance=False)
        except Exception as exc:
            if entry.task not in IN_PROCESS_WHEN_BROKER_DOWN:
                log.error("could not send %s (%s): %s", entry.name, entry.task, exc)
                return
            log.error("could not send %s (%s): %s; running it in the beat process", entry.name, entry.task, exc)
            run_in_process(self.app, entry.task, kwargs=dict(entry.kwargs or {}))


def run_in_process(app, task_name: str, *, kwargs: dict) -> None:
    """Run a protective task here and now (the broker is down); its errors are logged, never raised."""

    metrics.PERIODIC_IN_PROCESS.labels(task=task_name).inc()
    try:
        app.tasks[task_name].apply(kwargs=kwargs, throw=True)
    except Exception:
        log.exception("%s failed in the beat process", task_name)
    finally:
        close_old_connections()
