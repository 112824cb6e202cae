"""POST /api/backtests queues a run (202), the `backtest.run` task executes it, GET shows it."""

from __future__ import annotations

import pytest

from apps.backtest import services
from apps.backtest.models import BacktestRun
from apps.backtest.tasks import backtest_run_task
from tests.backtest.candles import uptrend
from tests.backtest.fakes import HistoryBroker

pytestmark = pytest.mark.django_db

CANDLES = uptrend()
BODY = {
    "symbol": "BTC/USDT",
    "timeframe": "1m",
    "since": CANDLES[0].time.isoformat(),
    "until": (CANDLES[-1].time).isoformat(),
}


def post(client, body=BODY):
    return client.post("/api/backtests", body, content_type="application/json")


def test_a_backtest_is_queued_then_run_by_the_task(trader, monkeypatch, django_capture_on_commit_callbacks):
    monkeypatch.setattr(services, "history_broker", lambda: HistoryBroker(CANDLES))
    monkeypatch.setattr(backtest_run_task, "delay", lambda run_id: backtest_run_task.apply(args=(run_id,)))
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = post(trader, {**BODY, "parameters": {"fee_pct": "0.1", "window": 100}})
    assert response.status_code == 202
    queued = response.json()
    assert queued["status"] == "queued" and queued["parameters"]["fee_pct"] == "0.1"
    assert trader.get(f"/api/backtests/{queued['id']}").json()["status"] == "queued"

    assert len(callbacks) == 1
    callbacks[0]()  # the commit hands the run to the worker

    body = trader.get(f"/api/backtests/{queued['id']}").json()
    assert body["status"] == "done", body["error"]
    assert body["candles"] == len(CANDLES) - 1  # `until` is exclusive
    assert body["metrics"]["trades"] == len(body["trades"]) >= 1
    assert body["equity_curve"] and body["started_at"] and body["finished_at"]


def test_the_task_leaves_a_run_another_worker_took(trader):
    run = BacktestRun.objects.create(symbol="BTC/USDT", timeframe="1m", source="exchange", status="running")
    assert backtest_run_task.apply(args=(run.pk,)).get() == {"id": run.pk, "status": "running"}


def test_a_run_whose_worker_died_is_taken_over(trader, monkeypatch):
    from datetime import timedelta

    from django.utils import timezone

    monkeypatch.setattr(services, "history_broker", lambda: HistoryBroker(CANDLES))
    run = BacktestRun.objects.create(
        symbol="BTC/USDT",
        timeframe="1m",
        source="exchange",
        status="running",
        since=CANDLES[0].time,
        until=CANDLES[-1].time,
        started_at=timezone.now() - timedelta(seconds=services.STALE_RUN_SECONDS + 1),
    )
    assert backtest_run_task.apply(args=(run.pk,)).get() == {"id": run.pk, "status": "done"}


def test_an_exchange_failure_fails_the_run_with_the_reason(trader, monkeypatch, django_capture_on_commit_callbacks):
    from apps.exchange.broker import TransientExchangeError

    class Down(HistoryBroker):
        def fetch_ohlcv_range(self, *args):
            raise TransientExchangeError("gate.io timed out")

    monkeypatch.setattr(services, "history_broker", lambda: Down(CANDLES))
    run_id = post(trader).json()["id"]
    backtest_run_task.apply(args=(run_id,))
    body = trader.get(f"/api/backtests/{run_id}").json()
    assert body["status"] == "failed" and "gate.io timed out" in body["error"]


def test_unknown_backtest_is_404(reader):
    response = reader.get("/api/backtests/999999")
    assert response.status_code == 404 and response.json()["detail"] == "not found"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"until": "2023-01-01T00:00:00Z"}, "until"),
        ({"symbol": "BTCUSDT"}, "symbol"),
        ({"timeframe": "7m"}, "timeframe"),
        ({"since": "not a date"}, "since"),
        ({"since": "2999-01-01T00:00:00Z", "until": "2999-01-02T00:00:00Z"}, "since"),
        ({"parameters": {"fee_pct": "50"}}, "parameters.fee_pct"),
        ({"parameters": {"leverage": 10}}, "parameters.leverage"),
        ({"parameters": {"weights": {"ema": 0}}}, "parameters.weights"),
        ({"extra": 1}, "extra"),
    ],
)
def test_bad_input_is_422_naming_the_field(trader, change, field):
    response = post(trader, {**BODY, **change})
    assert response.status_code == 422, response.content
    assert response.json()["field"] == field
    assert not BacktestRun.objects.exists()


def test_missing_token_is_401():
    from django.test import Client

    assert post(Client()).status_code == 401
    assert Client().get("/api/backtests/1").status_code == 401


def test_a_read_token_may_look_but_not_start(reader, trader):
    assert post(reader).status_code == 403
    run_id = post(trader).json()["id"]
    assert reader.get(f"/api/backtests/{run_id}").status_code == 200


def test_the_request_is_audited_as_the_token(trader, trade_token):
    from apps.audit.models import AuditLog

    run_id = post(trader).json()["id"]
    row = AuditLog.objects.get(action="backtest.enqueue")
    assert row.actor_type == "api" and row.actor_id == str(trade_token[0].pk) and row.object_id == str(run_id)
