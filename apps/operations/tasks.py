"""Periodic operations tasks. Bodies are one call each; singleton leases keep them once-at-a-time."""

from celery import shared_task

from apps.operations import shutdown  # noqa: F401 - connects the graceful-shutdown signal handlers
from apps.operations.backups import backup_create
from apps.operations.health_monitor import health_record
from apps.operations.periodic import run_periodic


@shared_task(name="monitoring.health_check", acks_late=True)
def health_check() -> None:
    run_periodic("monitoring.health_check", health_record)


@shared_task(name="operations.backup_db", acks_late=True)
def backup_db() -> None:
    run_periodic("operations.backup_db", backup_create)
