from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client, override_settings
from django.utils import timezone

from apps.monitoring import health
from apps.monitoring.models import ComponentHealth
from apps.reconciliation.models import ReconciliationRun

pytestmark = pytest.mark.django_db


def test_liveness_is_ok_without_io():
    response = Client().get("/health")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


def test_readiness_reports_every_component(broker, token_client):
    body = token_client.get("/health/ready").json()
    assert set(body["components"]) == {"database", "broker", "exchange", "celery_beat", "reconciliation", "disk"}
    for component in body["components"].values():
        assert set(component) == {"status", "detail", "latency_ms"}
        assert component["status"] in ("ok", "degraded", "down")
    assert body["components"]["database"]["status"] == "ok"
    assert body["components"]["exchange"]["status"] == "ok"


def test_readiness_probes_leave_status_changes_to_the_alerting_monitor(broker, monkeypatch):
    """Issue 11, Deliver 3: a load balancer polling /health/ready must not swallow the transition the health
    monitor alerts on (readiness used to write the new status first, so the outage alerted nobody)."""
    from apps.operations import health_monitor

    sent: list[dict] = []
    monkeypatch.setattr(health_monitor, "_alert", lambda *args: sent.append(args))
    health_monitor.health_record()
    assert ComponentHealth.objects.get(name="database").status == "ok"
    sent.clear()  # first sight of components that are not ok yet (reconciliation never ran)
    monkeypatch.setitem(health.CHECKS, "broker", lambda: ("down", "redis unreachable: ConnectionError"))
    assert Client().get("/health/ready").status_code == 503
    assert ComponentHealth.objects.get(name="broker").status == "ok"  # not written by the probe
    health_monitor.health_record()
    assert [args[:3] for args in sent] == [("broker", "ok", "down")]


def test_a_stopped_redis_is_503_without_crashing(broker, monkeypatch, token_client):
    """Issue 11, Deliver 3: a broker outage is `down` (503), no longer 200 "degraded"."""
    from apps.exchange import breaker

    breaker.reset_registry()
    with override_settings(REDIS_URL="redis://127.0.0.1:1/0"):
        response = token_client.get("/health/ready")
        breaker.reset_registry()
    body = response.json()
    assert response.status_code == 503
    assert body["status"] == "down"
    assert body["components"]["broker"]["status"] == "down"


def test_an_unreachable_exchange_makes_readiness_503(broker, monkeypatch):
    """Issue 11, Deliver 3: readiness is 503 when the exchange is down."""
    monkeypatch.setitem(health.CHECKS, "exchange", lambda: ("down", "no answer within 3 s"))
    response = Client().get("/health/ready")
    assert response.status_code == 503 and response.json()["status"] == "down"


def test_database_down_is_503(broker, monkeypatch, token_client):
    def broken():
        raise RuntimeError("connection refused")

    monkeypatch.setitem(health.CHECKS, "database", broken)
    response = token_client.get("/health/ready")
    assert response.status_code == 503
    assert response.json()["status"] == "down"
    assert "connection refused" in response.json()["components"]["database"]["detail"]


def test_an_open_breaker_degrades_the_exchange(broker, monkeypatch):
    monkeypatch.setattr(health, "breaker_states", lambda: {"gateio:public": "open", "gateio:private_orders": "closed"})
    status, detail = health.check_exchange()
    assert status == "degraded" and "gateio:public open" in detail


def test_an_unreachable_exchange_is_down(monkeypatch):
    from apps.exchange.broker import TransientExchangeError

    def unreachable():
        raise TransientExchangeError("timeout")

    monkeypatch.setattr(health, "_probe_exchange", unreachable)
    status, detail = health.check_exchange()
    assert status == "down" and "timeout" in detail


def test_reconciliation_freshness():
    assert health.check_reconciliation()[0] == "degraded"  # never ran
    now = timezone.now()
    ReconciliationRun.objects.create(started_at=now, finished_at=now, status="ok")
    assert health.check_reconciliation()[0] == "ok"
    old = now - timedelta(hours=2)
    ReconciliationRun.objects.all().update(started_at=old, finished_at=old)
    assert health.check_reconciliation()[0] == "degraded"


def test_beat_freshness_comes_from_the_tasks_run_records_not_last_run_at():
    """Issue 11, Deliver 6: django-celery-beat's last_run_at lags by minutes; TaskRun.last_seen_at does not."""
    from django_celery_beat.models import IntervalSchedule, PeriodicTask

    from apps.operations.models import TaskRun

    PeriodicTask.objects.all().delete()
    every_minute, _ = IntervalSchedule.objects.get_or_create(every=60, period="seconds")
    long_ago = timezone.now() - timedelta(hours=1)
    PeriodicTask.objects.create(name="exits", task="exits.check", interval=every_minute, last_run_at=long_ago)
    PeriodicTask.objects.create(
        name="reconciliation", task="reconciliation.reconcile", interval=every_minute, last_run_at=timezone.now()
    )
    PeriodicTask.objects.filter(name__in=["exits", "reconciliation"]).update(date_changed=long_ago)
    TaskRun.objects.create(name="exits.check", last_seen_at=timezone.now())
    TaskRun.objects.create(name="reconciliation.reconcile", last_seen_at=long_ago)
    status, detail = health.check_beat()
    assert status == "degraded" and "stale: reconciliation |" in detail and "exits: 0s ago" in detail
    TaskRun.objects.filter(name="reconciliation.reconcile").update(last_seen_at=timezone.now())
    assert health.check_beat()[0] == "ok"


def test_a_trading_cycle_is_judged_by_its_symbols_run_and_its_timeframe(settings):
    from apps.operations.models import TaskRun
    from apps.operations.schedule import ensure_schedule

    settings.SYMBOLS = ("BTC/USDT",)
    ensure_schedule(reset=True)
    from django_celery_beat.models import PeriodicTask

    PeriodicTask.objects.exclude(name="trading cycle BTC/USDT").delete()
    PeriodicTask.objects.update(date_changed=timezone.now() - timedelta(minutes=10))
    assert health.check_beat()[0] == "degraded"  # 1m candles, nothing for 10 minutes
    TaskRun.objects.create(name="trading.cycle:BTC/USDT", last_seen_at=timezone.now() - timedelta(seconds=90))
    assert health.check_beat()[0] == "ok"


def test_low_disk_is_degraded_then_down(monkeypatch, tmp_path):
    import shutil

    total = 100 * 2**30
    monkeypatch.setattr(shutil, "disk_usage", lambda p: shutil._ntuple_diskusage(total, total - 2**30, 2**30))
    assert health._disk(tmp_path)[0] == "degraded"
    monkeypatch.setattr(shutil, "disk_usage", lambda p: shutil._ntuple_diskusage(total, total, 2**20))
    assert health._disk(tmp_path)[0] == "down"
