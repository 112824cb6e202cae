"""manage.py evaluate: exit 0 with the decision, 1 on a detected failure, 2 on bad arguments."""

from __future__ import annotations

import json
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from apps.exchange.broker import TransientExchangeError
from apps.signals.models import Decision
from tests.signals.factories import StubBroker, ending_now

ROOT = Path(__file__).resolve().parents[2]


def run(*args: str) -> tuple[str, int]:
    out = StringIO()
    try:
        call_command("evaluate", *args, stdout=out, stderr=StringIO())
    except CommandError as exc:
        return out.getvalue(), exc.returncode
    return out.getvalue(), 0


@pytest.fixture
def use_broker(monkeypatch):
    """Make the exchange app's get_broker() return the given broker; skipped until the exchange app has it."""
    services = pytest.importorskip("apps.exchange.services")
    if not hasattr(services, "get_broker"):
        pytest.skip("apps.exchange.services.get_broker does not exist yet")

    def use(broker):
        monkeypatch.setattr(services, "get_broker", lambda: broker)
        return broker

    return use


@pytest.mark.parametrize(
    "args",
    [
        ("BTCUSDT",),
        ("BTC/USDT", "--timeframe", "7m"),
        ("BTC/USDT", "--limit", "ten"),
        ("BTC/USDT", "--limit", "10"),
        ("BTC/USDT", "--limit", "100000"),
    ],
)
def test_bad_arguments_exit_with_2(args):
    assert run(*args)[1] == 2


def test_bad_arguments_with_json_print_one_json_error():
    out, code = run("BTC/USDT", "--limit", "ten", "--json")
    assert code == 2
    assert json.loads(out) == {
        "error": "limit: 'ten' is not a whole number from 50 to 1000",
        "field": "limit",
        "exit_code": 2,
    }


@pytest.mark.parametrize("args", [["NOT-A-SYMBOL"], [], ["BTC/USDT", "--bogus"]])
def test_bad_arguments_exit_with_2_from_the_command_line(args):
    done = subprocess.run(
        [sys.executable, "manage.py", "evaluate", *args], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 2, done.stderr


@pytest.mark.django_db
def test_evaluate_prints_the_decision_score_and_explanation(use_broker):
    broker = use_broker(StubBroker(ending_now(300)))
    out, code = run("BTC/USDT", "--limit", "120")
    decision = Decision.objects.get()
    assert code == 0
    assert broker.calls == [("BTC/USDT", "1m", 121)]
    assert f"Decision #{decision.pk} BTC/USDT 1m: {decision.action.upper()} score {decision.score:+.3f}" in out
    assert decision.explanation in out
    assert decision.source == "command"


@pytest.mark.django_db
def test_evaluate_json_prints_one_object(use_broker):
    use_broker(StubBroker(ending_now(300)))
    out, code = run("btc/usdt", "--timeframe", "1m", "--json")
    data = json.loads(out)
    assert code == 0
    assert data["id"] == Decision.objects.get().pk
    assert data["action"] in ("buy", "sell", "hold") and -1 <= data["score"] <= 1
    assert data["rule"] and data["explanation"] and len(data["features"]) == 6


@pytest.mark.django_db
def test_unreachable_exchange_exits_with_1(use_broker):
    use_broker(StubBroker([], error=TransientExchangeError("connection refused")))
    out, code = run("BTC/USDT", "--json")
    assert code == 1
    assert "connection refused" in json.loads(out)["error"]
    assert not Decision.objects.exists()


@pytest.mark.django_db
def test_too_few_candles_exits_with_1(use_broker):
    use_broker(StubBroker(ending_now(20)))
    assert run("BTC/USDT")[1] == 1
