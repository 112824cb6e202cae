"""The one definition of the beat schedule, written into django-celery-beat so operators see and edit it.

`ensure_schedule` (run after every migrate, by `sync_schedule` and when beat starts) creates missing entries,
applies changed settings (RECONCILE_INTERVAL_SEC, EXITS_CHECK_INTERVAL_SEC, TIMEFRAME, …) to the entries that
still hold what the environment last wrote (`ScheduleSource`), and disables trading cycles of symbols no longer
configured; entries an operator changed in the admin are left alone unless `reset=True`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask

from apps.operations.models import ScheduleSource

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


def _fields(entry: Entry) -> dict[str, Any]:
    """The values the environment wants in an entry, in the shape `_current` reads them back."""
    values: dict[str, Any] = {"task": entry.task, "kwargs": entry.kwargs or {}, "enabled": True}
    if entry.every_seconds is not None:
        values["every_seconds"] = entry.every_seconds
    else:
        minute, hour = entry.crontab or ("*", "*")
        values["crontab"] = [minute, hour]
    return values


def _current(task: Any) -> dict[str, Any]:
    """An entry's schedule as stored now (what an operator may have edited in the admin)."""
    try:
        kwargs = json.loads(task.kwargs or "{}")
    except ValueError:
        kwargs = task.kwargs
    values: dict[str, Any] = {"task": task.task, "kwargs": kwargs, "enabled": task.enabled}
    if task.interval_id:
        seconds = {"days": 86400, "hours": 3600, "minutes": 60, "seconds": 1}.get(task.interval.period)
        values["every_seconds"] = task.interval.every * seconds if seconds else f"{task.interval}"
    elif task.crontab_id:
        c = task.crontab
        if (c.day_of_week, c.day_of_month, c.month_of_year) == ("*", "*", "*"):
            values["crontab"] = [c.minute, c.hour]
        else:
            values["crontab"] = str(c)
    else:
        values["other"] = True
    return values


def operator_changed(task: Any) -> bool:
    """True when an entry differs from what the environment last wrote into it (an edit in the admin)."""

    source = ScheduleSource.objects.filter(name=task.name).first()
    return source is None or source.applied != _current(task)


def ensure_schedule(*args: Any, reset: bool = False, **kwargs: Any) -> list[str]:
    """Write the environment's schedule into the beat entries; returns the names created or rewritten.

    Run at every start (migrate, sync_schedule, beat). An entry is rewritten when the environment's values
    changed (e.g. RECONCILE_INTERVAL_SEC) and it still holds what the environment last wrote; an entry an
    operator changed in the admin is left alone, unless `reset=True`."""

    touched = []
    wanted = schedule_entries()
    sources = {s.name: s for s in ScheduleSource.objects.filter(name__in=[e.name for e in wanted])}
    for entry in wanted:
        target = _fields(entry)
        existing = PeriodicTask.objects.filter(name=entry.name).select_related("interval", "crontab").first()
        if existing is not None and not reset:
            current = _current(existing)
            source = sources.get(entry.name)
            if source is None and current == target:
                ScheduleSource.objects.create(name=entry.name, applied=current)  # written before sources existed
                continue
            if source is None or source.applied != current or current == target:
                continue  # an operator's edit, or nothing to change
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
        ScheduleSource.objects.update_or_create(name=entry.name, defaults={"applied": target})
        touched.append(entry.name)
    wanted_cycles = {e.name for e in wanted if e.task == "trading.cycle"}
    dropped = PeriodicTask.objects.filter(name__startswith=CYCLE_PREFIX, enabled=True).exclude(name__in=wanted_cycles)
    for task in dropped.select_related("interval", "crontab"):
        follows_environment = not operator_changed(task)
        task.enabled = False
        task.save(update_fields=["enabled"])
        if follows_environment:  # still the environment's: it comes back by itself if the symbol does
            ScheduleSource.objects.filter(name=task.name).update(applied=_current(task))
    return touched
