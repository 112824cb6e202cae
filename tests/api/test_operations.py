from __future__ import annotations

import pytest

from apps.audit.models import AuditLog
from apps.risk.models import TradingSwitch

pytestmark = pytest.mark.django_db


def test_pause_and_resume_are_audited_as_the_token(trader, trade_token):
    response = trader.post("/api/trading/pause", {"reason": "maintenance"}, content_type="application/json")
    assert response.status_code == 200 and response.json()["halted"] is True
    assert TradingSwitch.get().reason == "maintenance"
    assert trader.post("/api/trading/resume", content_type="application/json").json()["halted"] is False
    actions = set(
        AuditLog.objects.filter(actor_type="api", actor_id=str(trade_token[0].pk)).values_list("action", flat=True)
    )
    assert {"trading.pause", "trading.resume"} <= actions


def test_a_pause_through_the_api_counts_one_kill_switch_change(trader, side_effects):
    """One side effect, written once: the service counts the change, the endpoint does not count it again."""
    response = trader.post("/api/trading/pause", {"reason": "maintenance"}, content_type="application/json")
    assert response.status_code == 200
    assert side_effects.metric("kill_switch_changes_total", action="pause") == 1
    assert [a for a in side_effects.audit_actions() if a.startswith("trading.")] == ["trading.pause"]
    assert side_effects.notifications == []

    assert trader.post("/api/trading/resume", content_type="application/json").status_code == 200
    assert side_effects.metric("kill_switch_changes_total", action="resume") == 1
    assert side_effects.metric("kill_switch_changes_total", action="pause") == 1


def test_pause_with_an_overlong_reason_is_422(trader):
    response = trader.post("/api/trading/pause", {"reason": "x" * 300}, content_type="application/json")
    assert response.status_code == 422 and response.json()["field"] == "reason"


def test_trading_status_is_readable(reader):
    assert set(reader.get("/api/trading").json()) >= {"mode", "halted", "entries_allowed", "why"}


def test_reconcile_answers_a_summary_or_says_it_is_not_there_yet(trader, broker):
    response = trader.post("/api/reconcile")
    assert response.status_code in (200, 503)
    if response.status_code == 200:
        assert {"checked", "fixed", "imported", "missing"} <= set(response.json())
    else:
        assert "not available yet" in response.json()["detail"]


def test_backtests_are_queued_and_readable(trader):
    response = trader.post(
        "/api/backtests",
        {"symbol": "BTC/USDT", "timeframe": "1m", "since": "2024-01-01T00:00:00Z", "until": "2024-01-02T00:00:00Z"},
        content_type="application/json",
    )
    assert response.status_code == 202 and response.json()["status"] == "queued"
    assert trader.get(f"/api/backtests/{response.json()['id']}").status_code == 200


def test_an_unexpected_error_is_a_json_500_without_internals(reader, monkeypatch):
    from apps.api.endpoints import operations

    def boom():
        raise RuntimeError("secret internals: token=abcdef123456")

    monkeypatch.setattr(operations, "status_out", boom)
    response = reader.get("/api/trading")
    assert response.status_code == 500
    body = response.json()
    assert body["detail"] == "internal error" and "internals" not in response.content.decode()
    assert body["request_id"] == response["X-Request-ID"]
