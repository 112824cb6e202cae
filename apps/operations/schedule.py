"""The one definition of the beat schedule, written into django-celery-beat so operators see and edit it.

`ensure_schedule` (run after every migrate and by `sync_schedule`) creates missing entries and disables
trading cycles of symbols no longer configured; it leaves operator edits alone unless `reset=True`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from django.conf import settings

# Candle closes per timeframe as crontab fields (minute, hour).
CANDLE_CLOSE_CRONTAB: dict[str, tuple[str, str]] = {
    "1m": ("*", "*"),
    "5m": ("*/5", "*"),
    "15m": ("*/15", "*"),
    "30m": ("*/30", "*"),
    "1h": ("0", "*"),
    "4h": ("0", "*/4"),
    "8h": ("0", "*/8"),
    "1d": ("0", "0"),
}
CYCLE_PREFIX = "trading cycle "


@dataclass(frozen=True)
class Entry:
    name: str
    task: str
    every_seconds: int | None = None
    crontab: tuple[str, str] | None = None
    kwargs: dict | None = None


def schedule_entries() -> list[Entry]:
    entries = [
        Entry(
            f"{CYCLE_PREFIX}{symbol}",
            "trading.cycle",
            crontab=CANDLE_CLOSE_CRONTAB[settings.TIMEFRAME],
            kwargs={"symbol": symbol, "timeframe": settings.TIMEFRAME},
        )
        for symbol in settings.SYMBOLS
    ]
    entries += [
        Entry("protective exits", "exits.check", every_seconds=settings.EXITS_CHECK_INTERVAL_SEC),
        Entry("reconciliation", "reconciliation.reconcile", every_seconds=settings.RECONCILE_INTERVAL_SEC),
        Entry("drawdown check", "risk.drawdown_check", every_seconds=60),
        Entry("health monitor", "monitoring.health_check", every_seconds=30),
        Entry("database backup", "operations.backup_db", every_seconds=settings.DB_BACKUP_INTERVAL_HOURS * 3600),
    ]
    return entries


def ensure_schedule(*args: Any, reset: bool = False, **kwargs: Any) -> list[str]:
    """Create (or with reset=True, rewrite) the beat entries; returns the names created or rewritten."""
    from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask

    touched = []
    wanted = schedule_entries()
    for entry in wanted:
        existing = PeriodicTask.objects.filter(name=entry.name).first()
        if existing is not None and not reset:
            continue
        fields: dict[str, Any] = {"task": entry.task, "kwargs": json.dumps(entry.kwargs or {}), "enabled": True}
        if entry.every_seconds is not None:
            interval, _ = IntervalSchedule.objects.get_or_create(every=entry.every_seconds, period="seconds")
            fields.update(interval=interval, crontab=None)
        else:
            minute, hour = entry.crontab or ("*", "*")
            crontab, _ = CrontabSchedule.objects.get_or_create(
                minute=minute, hour=hour, day_of_week="*", day_of_month="*", month_of_year="*", timezone="UTC"
            )
            fields.update(crontab=crontab, interval=None)
        PeriodicTask.objects.update_or_create(name=entry.name, defaults=fields)
        touched.append(entry.name)
    wanted_cycles = {e.name for e in wanted if e.task == "trading.cycle"}
    PeriodicTask.objects.filter(name__startswith=CYCLE_PREFIX, enabled=True).exclude(name__in=wanted_cycles).update(
        enabled=False
    )
    return touched
