"""`manage.py reconcile`: counts, --json, exit codes."""

from __future__ import annotations

import json

import pytest
from django.core.management import CommandError, call_command

from apps.exchange import services as exchange_services

pytestmark = pytest.mark.django_db


@pytest.fixture
def use_broker(broker, monkeypatch):
    monkeypatch.setattr(exchange_services, "get_broker", lambda: broker)
    return broker


def test_prints_the_counts(use_broker, rsim, place, capsys):
    order = place()
    rsim.cancel_behind_back(order.exchange_order_id)
    call_command("reconcile", "--symbol", "BTC/USDT")
    out = capsys.readouterr().out
    assert "checked 1, fixed 1, imported 0, missing 0" in out


def test_json_prints_one_object(use_broker, capsys):
    call_command("reconcile", "--json", "--symbol", "BTC/USDT")
    summary = json.loads(capsys.readouterr().out)
    assert summary["status"] == "ok"
    assert {"checked", "fixed", "imported", "missing", "exchange_calls"} <= set(summary)


def test_a_failed_run_exits_1(use_broker, rsim, capsys):
    rsim.faults.set("list_orders", error_rate=1.0)
    with pytest.raises(CommandError) as failure:
        call_command("reconcile", "--json", "--symbol", "BTC/USDT")
    assert failure.value.returncode == 1
    assert json.loads(capsys.readouterr().out)["status"] == "failed"


@pytest.mark.parametrize("args", [["--lookback-hours", "0"], ["--lookback-hours", "x"], ["--symbol", "BTCUSDT"]])
def test_bad_arguments_exit_2(use_broker, args):
    with pytest.raises(CommandError) as failure:
        call_command("reconcile", *args)
    assert failure.value.returncode == 2


def test_the_celery_task_runs_one_pass_and_returns_its_summary(use_broker, settings):
    from apps.reconciliation.tasks import reconcile_task

    settings.SYMBOLS = ("BTC/USDT",)
    summary = reconcile_task.run()
    assert summary["status"] == "ok" and summary["trigger"] == "schedule"
    assert reconcile_task.name == "reconciliation.reconcile" and reconcile_task.acks_late
