"""Component checks behind /health/ready and the admin dashboard.

Each check returns (status, detail) with status ok / degraded / down and never raises: `_timed` turns an
exception into `down`. The overall status is down (HTTP 503) when a critical component — the database, the
broker / Redis, the exchange or the disk — is down, degraded when any component is not ok, else ok.
"""

from __future__ import annotations

import json
import logging
import shutil
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from datetime import timedelta
from pathlib import Path
from typing import Any

import redis
from django.conf import settings
from django.db import connection, connections
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from apps.exchange import services as exchange_services
from apps.exchange.breaker import breaker_states as read_breaker_states
from apps.monitoring import metrics
from apps.monitoring.models import ComponentHealth
from apps.operations.models import TaskRun
from apps.reconciliation.models import ReconciliationRun
from tradebot.config import timeframe_seconds

log = logging.getLogger(__name__)

EXCHANGE_TIMEOUT_SEC = 3.0
EXCHANGE_CACHE_SEC = 10.0
DISK_DEGRADED_FREE = 0.05  # fraction of the disk
DISK_DOWN_BYTES = 50 * 1024 * 1024
BEAT_GRACE_SEC = 60


def _timed(name: str, check: Callable[[], tuple[str, str]]) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        status, detail = check()
    except Exception as exc:  # a failing component is reported, never raised
        status, detail = "down", f"{type(exc).__name__}: {exc}"
    elapsed = time.perf_counter() - started
    try:
        metrics.set_health(name, status, elapsed)
    except Exception:  # metrics must never break readiness
        log.debug("health metric for %s not recorded", name, exc_info=True)
    return {"status": status, "detail": detail[:500], "latency_ms": round(elapsed * 1000, 2)}


def check_database() -> tuple[str, str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return "ok", connection.vendor


def check_broker() -> tuple[str, str]:
    """Redis (broker, locks, limiter, breakers) when configured, else the embedded filesystem transport."""
    if not settings.REDIS_URL:
        folder = Path(settings.CELERY_BROKER_DIR) / "out"
        if not folder.is_dir():
            return "down", f"embedded transport folder {folder} missing"
        return "ok", "embedded filesystem transport"

    client = redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=1, socket_timeout=1)
    try:
        client.ping()
    except redis.RedisError as exc:
        return "down", f"redis unreachable: {type(exc).__name__}"
    finally:
        client.close()
    return "ok", "redis"


# --- exchange: reachability (cached, bounded in time) and breaker states ------------------------------
_exchange_lock = threading.Lock()
_exchange_cache: dict[str, Any] = {"at": 0.0, "result": None}
_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="health-exchange")


def _probe_exchange() -> tuple[str, str]:
    try:
        broker = exchange_services.get_broker()
        symbol = settings.SYMBOLS[0]
        ticker = broker.fetch_ticker(symbol)
    finally:
        connections.close_all()  # this runs in the probe thread: leave no connection behind
    return "ok", f"{getattr(broker, 'name', 'broker')} {symbol} last {ticker.last}"


def _reachability() -> tuple[str, str]:
    with _exchange_lock:
        cached = _exchange_cache["result"]
        if cached is not None and time.monotonic() - _exchange_cache["at"] < EXCHANGE_CACHE_SEC:
            return cached
    try:
        future = _pool.submit(_probe_exchange)
        result = future.result(timeout=EXCHANGE_TIMEOUT_SEC)
    except FutureTimeout:
        result = ("down", f"no answer within {EXCHANGE_TIMEOUT_SEC:.0f} s")
    except Exception as exc:
        result = ("down", f"{type(exc).__name__}: {exc}")
    with _exchange_lock:
        _exchange_cache.update(at=time.monotonic(), result=result)
    return result


def breaker_states() -> dict[str, str]:
    """name -> closed / open / half_open, from the shared store (Redis or the database)."""
    return read_breaker_states()


def check_exchange() -> tuple[str, str]:
    if settings.MODE == "backtest":
        return "ok", "backtest mode: no exchange"
    try:
        states = breaker_states()
    except Exception as exc:
        states, breaker_note = {}, f"breakers unreadable ({type(exc).__name__})"
    else:
        breaker_note = ", ".join(f"{name} {state}" for name, state in sorted(states.items())) or "no breakers"
    for name, state in states.items():
        metrics.set_breaker_state(name, state)
    status, detail = _reachability()
    open_ones = [name for name, state in states.items() if state != "closed"]
    if status == "ok" and (open_ones or not states and "unreadable" in breaker_note):
        status = "degraded"
    return status, f"{detail}; breakers: {breaker_note}"


def reset_exchange_cache() -> None:
    with _exchange_lock:
        _exchange_cache.update(at=0.0, result=None)


# --- Celery beat: when each scheduled task last reached a worker, from the tasks' own run records --------
# django-celery-beat's last_run_at is written only every few minutes (its sync interval), so reading it made
# readiness flap on a healthy system. TaskRun.last_seen_at is written by every run (and skip) of the task.
RECORDED_TASKS = {
    "trading.cycle",
    "exits.check",
    "reconciliation.reconcile",
    "risk.drawdown_check",
    "monitoring.health_check",
    "operations.backup_db",
}


def _interval_seconds(task: Any) -> float | None:
    if task.interval_id:
        every, period = task.interval.every, task.interval.period
        return every * {"days": 86400, "hours": 3600, "minutes": 60, "seconds": 1, "microseconds": 1e-6}[period]
    if task.crontab_id:
        try:  # a trading cycle's crontab fires on each candle close
            return float(timeframe_seconds(json.loads(task.kwargs or "{}").get("timeframe", "")))
        except (ValueError, KeyError, TypeError, AttributeError):
            return 86400.0  # a cron task of ours is stale after a day
    return None


def _run_name(task: Any) -> str:
    if task.task == "trading.cycle":
        try:
            return f"trading.cycle:{json.loads(task.kwargs or '{}')['symbol']}"
        except (ValueError, KeyError, TypeError):
            return task.task
    return task.task


def check_beat() -> tuple[str, str]:
    tasks = [
        t
        for t in PeriodicTask.objects.filter(enabled=True, one_off=False).select_related("interval", "crontab")
        if t.task in RECORDED_TASKS
    ]
    if not tasks:
        return "degraded", "no periodic tasks scheduled"
    seen = {
        name: at or started
        for name, at, started in TaskRun.objects.filter(name__in=[_run_name(t) for t in tasks]).values_list(
            "name", "last_seen_at", "last_started_at"
        )
    }
    now = timezone.now()
    stale, notes = [], []
    for task in tasks:
        interval = _interval_seconds(task)
        last = seen.get(_run_name(task))
        # Never run: counted from when the entry was written, so a fresh start is not stale at once.
        since = last or task.date_changed
        age = (now - since).total_seconds() if since else 0.0
        metrics.CELERY_BEAT_LAG.labels(task=task.name).set(age)
        notes.append(f"{task.name}: {'never run' if last is None else f'{age:.0f}s ago'}")
        if interval is not None and age > 3 * interval + BEAT_GRACE_SEC:
            stale.append(task.name)
    if stale:
        return "degraded", f"stale: {', '.join(stale)} | " + "; ".join(notes)
    return "ok", "; ".join(notes)


# --- reconciliation ------------------------------------------------------------------------------------
def check_reconciliation() -> tuple[str, str]:
    if settings.MODE == "backtest":
        return "ok", "backtest mode: no reconciliation"
    run = ReconciliationRun.objects.exclude(status=ReconciliationRun.Status.RUNNING).order_by("-started_at").first()
    if run is None:
        return "degraded", "no reconciliation has finished yet"
    finished = run.finished_at or run.started_at
    age = (timezone.now() - finished).total_seconds()
    limit = timedelta(seconds=3 * settings.RECONCILE_INTERVAL_SEC + 60).total_seconds()
    detail = f"last run #{run.pk} {run.status} {age:.0f}s ago"
    if run.status == ReconciliationRun.Status.FAILED:
        return "degraded", f"{detail}: {run.error[:200]}"
    if age > limit:
        return "degraded", f"{detail} (older than {limit:.0f}s)"
    return "ok", detail


# --- disk: the SQLite file's and the backups' file systems --------------------------------------------
def _disk(path: Path) -> tuple[str, str]:
    probe = path
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    usage = shutil.disk_usage(probe)
    free_pct = usage.free / usage.total if usage.total else 0
    text = f"{path}: {usage.free / 2**30:.1f} GiB free ({free_pct:.0%})"
    if usage.free < DISK_DOWN_BYTES:
        return "down", text
    if free_pct < DISK_DEGRADED_FREE:
        return "degraded", text
    return "ok", text


def check_disk() -> tuple[str, str]:
    paths = []
    if connection.vendor == "sqlite":
        paths.append(Path(settings.DATABASES["default"]["NAME"]).parent)
    paths.append(Path(settings.DB_BACKUP_DIR))
    results = [_disk(p) for p in paths]
    worst = max((status for status, _ in results), key=lambda s: metrics.HEALTH_LEVEL[s])
    return worst, "; ".join(text for _, text in results)


CHECKS: dict[str, Callable[[], tuple[str, str]]] = {
    "database": check_database,
    "broker": check_broker,
    "exchange": check_exchange,
    "celery_beat": check_beat,
    "reconciliation": check_reconciliation,
    "disk": check_disk,
}
# Down in one of these and the service cannot do its job: readiness is "down" and HTTP 503, so a load
# balancer, an orchestrator and the alert rules all see it (a broker outage is not "degraded": no task runs).
CRITICAL = {"database", "disk", "broker", "exchange"}


def readiness() -> dict[str, Any]:
    components = {name: _timed(name, check) for name, check in CHECKS.items()}
    overall = "ok"
    for name, result in components.items():
        if result["status"] == "down" and name in CRITICAL:
            overall = "down"
        elif result["status"] != "ok" and overall == "ok":
            overall = "degraded"
    _remember(components)
    return {"status": overall, "components": components}


def _remember(components: dict[str, dict[str, Any]]) -> None:
    """Keep ComponentHealth rows fresh for the admin (written when a minute has passed). A change of status is
    left to the health monitor (apps.operations.health_monitor), which alerts on it: were /health/ready to write
    it, a load balancer's probe would swallow the transition and the operators would never hear of it."""

    now = timezone.now()
    try:
        known = {row.name: row for row in ComponentHealth.objects.all()}
        for name, result in components.items():
            row = known.get(name)
            if row is None:
                continue  # the health monitor creates it (and alerts if it is not ok)
            if row.status != result["status"]:
                log.warning("component %s: %s -> %s (%s)", name, row.status, result["status"], result["detail"])
            elif (now - row.checked_at).total_seconds() > 60:
                ComponentHealth.objects.filter(pk=row.pk, status=row.status).update(
                    detail=result["detail"], latency_ms=result["latency_ms"], checked_at=now
                )
    except Exception:  # the database may be what is down
        log.debug("component health not stored", exc_info=True)
