"""Gauges whose truth lives in the shared stores (database, backup folder), refreshed by /metrics before each
scrape: the last successful reconciliation and backup, the beat schedule's lag and the kill switch.

Read at scrape time, they are right whichever process (or machine) did the work, and right on a process
that has just started; each read is guarded, so a database outage never breaks /metrics.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from django.db.models import Max
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from apps.monitoring import metrics
from apps.operations.backups import backups_list
from apps.reconciliation.models import ReconciliationRun
from apps.risk.models import TradingSwitch

log = logging.getLogger(__name__)


def _reconciliation() -> None:
    done = ReconciliationRun.objects.filter(finished_at__isnull=False).exclude(
        status__in=(ReconciliationRun.Status.FAILED, ReconciliationRun.Status.RUNNING)
    )
    last = done.aggregate(last=Max("finished_at"))["last"]
    if last is not None:
        metrics.RECONCILIATION_LAST_SUCCESS.set(last.timestamp())


def _backups() -> None:
    newest = next(iter(backups_list()), None)
    if newest is None:
        return
    stat = newest.stat()
    metrics.BACKUP_LAST_SUCCESS.set(stat.st_mtime)
    metrics.BACKUP_AGE.set(max(0.0, time.time() - stat.st_mtime))
    metrics.BACKUP_SIZE.set(stat.st_size)


def _beat() -> None:
    now = timezone.now()
    for name, last_run, changed in PeriodicTask.objects.filter(enabled=True, one_off=False).values_list(
        "name", "last_run_at", "date_changed"
    ):
        since = last_run or changed
        if since is not None:
            metrics.CELERY_BEAT_LAG.labels(task=name).set(max(0.0, (now - since).total_seconds()))


def _kill_switch() -> None:
    halted = TradingSwitch.objects.filter(pk=1).values_list("halted", flat=True).first()
    metrics.TRADING_HALTED.set(1 if halted else 0)


REFRESHERS: tuple[Callable[[], None], ...] = (_reconciliation, _backups, _beat, _kill_switch)


def refresh() -> None:
    """Update the shared-state gauges now; a failing source is logged and skipped."""
    for refresher in REFRESHERS:
        try:
            refresher()
        except Exception:
            log.warning("metrics: %s not refreshed", refresher.__name__.lstrip("_"), exc_info=True)
