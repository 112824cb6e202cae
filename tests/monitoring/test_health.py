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
    assert ComponentHealth.objects.filter(name="database").exists()


def test_a_stopped_redis_degrades_without_crashing(broker, monkeypatch, token_client):
    from apps.exchange import breaker

    breaker.reset_registry()
    with override_settings(REDIS_URL="redis://127.0.0.1:1/0"):
        response = token_client.get("/health/ready")
        breaker.reset_registry()
    body = response.json()
    assert response.status_code == 200
    assert body["status"] in ("degraded", "down")
    assert body["components"]["broker"]["status"] == "down"


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


def test_beat_freshness_per_periodic_task():
    from django_celery_beat.models import IntervalSchedule, PeriodicTask

    every_minute = IntervalSchedule.objects.create(every=60, period="seconds")
    fresh = PeriodicTask.objects.create(name="fresh", task="x", interval=every_minute, last_run_at=timezone.now())
    PeriodicTask.objects.create(
        name="stale", task="y", interval=every_minute, last_run_at=timezone.now() - timedelta(hours=1)
    )
    status, detail = health.check_beat()
    assert status == "degraded" and "stale" in detail and "fresh" in detail
    PeriodicTask.objects.exclude(pk=fresh.pk).delete()
    assert health.check_beat()[0] == "ok"


def test_low_disk_is_degraded_then_down(monkeypatch, tmp_path):
    import shutil

    total = 100 * 2**30
    monkeypatch.setattr(shutil, "disk_usage", lambda p: shutil._ntuple_diskusage(total, total - 2**30, 2**30))
    assert health._disk(tmp_path)[0] == "degraded"
    monkeypatch.setattr(shutil, "disk_usage", lambda p: shutil._ntuple_diskusage(total, total, 2**20))
    assert health._disk(tmp_path)[0] == "down"
