"""POST /api/reconcile tells the truth (CONTRACT.md, issue 10): 200 only for a run that completed; a failed run
answers 502 with its summary and error, and alerts. The broker is the real ccxt gate class on the simulator."""

from __future__ import annotations

import pytest

from apps.reconciliation.models import ReconciliationRun
from tests.exchange.brokers import make_broker, make_limiter, make_sim, serve

pytestmark = pytest.mark.django_db


@pytest.fixture
def gate(monkeypatch, tmp_path):
    from apps.exchange import services

    sim = make_sim(rate_limit=100_000)
    server = serve(sim)
    broker = make_broker(server.url, make_limiter(tmp_path, calls=100_000))
    monkeypatch.setattr(services, "_broker", broker)
    yield sim
    server.stop()


@pytest.fixture
def alerts(side_effects) -> list[dict]:
    """The notifications sent (tests/support/side_effects.py: captured instead of any channel)."""
    return side_effects.notifications


def test_a_completed_run_answers_200(trader, gate, alerts, settings):
    settings.SYMBOLS = ("BTC/USDT",)
    gate.set_balance("BTC", 0)
    gate.set_balance("ETH", 0)

    response = trader.post("/api/reconcile")

    assert response.status_code == 200, response.json()
    assert response.json()["status"] == "ok" and response.json()["error"] == ""
    assert not [a for a in alerts if a["kind"] == "reconciliation_failed"]


def test_a_failed_run_answers_502_with_its_summary_and_error_and_alerts(trader, gate, alerts, settings):
    settings.SYMBOLS = ("BTC/USDT",)
    gate.faults.set("list_orders", error_rate=1.0)  # every finished-orders read fails

    response = trader.post("/api/reconcile")

    body = response.json()
    assert response.status_code == 502
    run = ReconciliationRun.objects.get(pk=body["id"])
    assert body["status"] == run.status == "failed"
    assert "BTC/USDT" in body["error"] and body["error"] == run.error
    assert body["detail"].startswith(f"reconciliation run #{run.pk} failed")
    assert {"checked", "fixed", "imported", "missing", "exchange_calls", "symbols"} <= set(body)
    assert [a["kind"] for a in alerts if a["kind"] == "reconciliation_failed"] == ["reconciliation_failed"]
