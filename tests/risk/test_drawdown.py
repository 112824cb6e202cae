"""The drawdown rule stops trading: kill switch on, a critical RiskEvent, an alert; exits still go out."""

from __future__ import annotations

from decimal import Decimal

import pytest
from prometheus_client import REGISTRY

from apps.audit.models import AuditLog
from apps.risk.models import RiskEvent, RiskLimits, TradingSwitch
from apps.risk.selectors import EQUITY_BALANCE, EQUITY_REALIZED, equity_current, trading_status
from apps.risk.services import drawdown_check, drawdown_update, risk_check, trading_resume
from tests.risk.conftest import NOW, FakeBroker, closed_position, open_position

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("trading_on")]


@pytest.fixture
def alerts(side_effects) -> list[dict]:
    """The notifications sent (tests/support/side_effects.py: captured instead of any channel)."""
    return side_effects.notifications


def blocks(rule: str) -> float:
    return REGISTRY.get_sample_value("risk_blocks_total", {"rule": rule}) or 0.0


def test_drawdown_from_the_peak_stops_trading(alerts):
    broker = FakeBroker(quote_balance=Decimal("10000"))
    assert risk_check(symbol="BTC/USDT", side="buy", broker=broker, now=NOW).allowed
    assert TradingSwitch.get().equity_peak == Decimal("10000")

    before = blocks("max_drawdown")
    broker.quote_balance = Decimal("9500")  # 5% down: the limit is reached
    verdict = risk_check(symbol="BTC/USDT", side="buy", broker=broker, now=NOW)

    assert not verdict.allowed and verdict.rule == "max_drawdown" and verdict.severity == "critical"
    switch = TradingSwitch.get()
    assert switch.halted and switch.halt_rule == "max_drawdown"
    assert not trading_status().entries_allowed
    event = RiskEvent.objects.get()
    assert event.severity == RiskEvent.Severity.CRITICAL and event.rule == "max_drawdown"
    assert Decimal(event.details["drawdown_pct"]) == Decimal("5.0000")
    assert Decimal(event.details["peak"]) == Decimal("10000") and Decimal(event.details["equity"]) == Decimal("9500")
    assert [a["kind"] for a in alerts] == ["drawdown_stop"] and alerts[0]["severity"] == "critical"
    assert blocks("max_drawdown") == before + 1
    assert AuditLog.objects.filter(action="trading.pause", actor_label="risk:max_drawdown").count() == 1

    # From now on the gate refuses every entry, without asking the exchange.
    broker.calls.clear()
    again = risk_check(symbol="ETH/USDT", side="buy", broker=broker, now=NOW)
    assert again.rule == "trading_gate" and broker.calls == []
    assert len(alerts) == 1


def test_drawdown_below_the_limit_allows_and_a_new_high_raises_the_peak(alerts):
    broker = FakeBroker(quote_balance=Decimal("10000"))
    risk_check(symbol="BTC/USDT", side="buy", broker=broker, now=NOW)
    broker.quote_balance = Decimal("9501")  # 4.99%
    assert risk_check(symbol="BTC/USDT", side="buy", broker=broker, now=NOW).allowed
    broker.quote_balance = Decimal("10400")
    assert risk_check(symbol="BTC/USDT", side="buy", broker=broker, now=NOW).allowed
    assert TradingSwitch.get().equity_peak == Decimal("10400")
    assert not TradingSwitch.get().halted and alerts == [] and RiskEvent.objects.count() == 0


def test_equity_counts_open_positions_at_market():
    open_position("BTC/USDT", amount="0.1", price="50000")  # cost 5000
    broker = FakeBroker(quote_balance=Decimal("5000"))
    broker.prices["BTC/USDT"] = Decimal("45000")
    equity = equity_current(broker=broker)
    assert equity.source == EQUITY_BALANCE
    assert equity.value == Decimal("9500")  # 5000 USDT + 0.1 BTC at 45000
    assert equity.details["positions_value"] == Decimal("4500")


def test_a_falling_open_position_trips_the_periodic_check(alerts):
    open_position("BTC/USDT", amount="0.1", price="50000")
    broker = FakeBroker(quote_balance=Decimal("5000"))
    broker.prices["BTC/USDT"] = Decimal("50000")
    assert not drawdown_check(broker=broker, now=NOW).breached  # peak 10000
    broker.prices["BTC/USDT"] = Decimal("44000")  # equity 9400: 6% down
    state = drawdown_check(broker=broker, now=NOW)
    assert state.breached and state.halted_now and state.drawdown_pct == Decimal("6.0000")
    assert TradingSwitch.get().halted
    assert RiskEvent.objects.get().severity == "critical"
    assert len(alerts) == 1


def test_drawdown_update_alerts_once_while_halted(alerts):
    drawdown_update(equity=Decimal("1000"), now=NOW)
    first = drawdown_update(equity=Decimal("900"), now=NOW)
    second = drawdown_update(equity=Decimal("880"), now=NOW)
    assert first.halted_now and second.breached and not second.halted_now
    assert RiskEvent.objects.count() == 1 and len(alerts) == 1


def test_drawdown_limit_comes_from_risk_limits(alerts):
    RiskLimits.objects.create(pk=1, max_drawdown_pct=Decimal("20"))
    drawdown_update(equity=Decimal("1000"), now=NOW)
    assert not drawdown_update(equity=Decimal("850"), now=NOW).breached
    assert drawdown_update(equity=Decimal("800"), now=NOW).breached


def test_realized_equity_when_balances_are_unavailable():
    closed_position("-30", NOW)
    broker = FakeBroker(quote_balance=None)
    equity = equity_current(broker=broker)
    assert equity.source == EQUITY_REALIZED
    assert equity.value == Decimal("270")  # nominal 100 x 3, less 30 realized
    assert equity.details["capital"] == Decimal("300")


def test_a_change_of_equity_source_restarts_the_peak_instead_of_tripping(alerts):
    broker = FakeBroker(quote_balance=Decimal("10000"))
    drawdown_check(broker=broker, now=NOW)
    broker.quote_balance = None  # realized equity (300) is not comparable with 10000
    state = drawdown_check(broker=broker, now=NOW)
    assert not state.breached and state.peak == Decimal("300") and state.source == EQUITY_REALIZED
    assert not TradingSwitch.get().halted and alerts == []


def test_resume_after_a_drawdown_stop_restarts_the_peak(alerts, operator_actor):
    drawdown_update(equity=Decimal("1000"), now=NOW)
    drawdown_update(equity=Decimal("900"), now=NOW)
    trading_resume(actor=operator_actor, reason="loss accepted")
    switch = TradingSwitch.get()
    assert not switch.halted and switch.equity_peak == 0 and switch.halt_rule == ""
    assert not drawdown_update(equity=Decimal("900"), now=NOW).breached
    assert TradingSwitch.get().equity_peak == Decimal("900")


def test_operator_resume_keeps_the_peak_after_a_manual_pause(operator_actor):
    from apps.risk.services import trading_pause

    drawdown_update(equity=Decimal("1000"), now=NOW)
    trading_pause(actor=operator_actor)
    trading_resume(actor=operator_actor)
    assert TradingSwitch.get().equity_peak == Decimal("1000")


def test_exit_still_allowed_after_the_drawdown_stop(alerts):
    open_position("BTC/USDT")
    drawdown_update(equity=Decimal("1000"), now=NOW)
    drawdown_update(equity=Decimal("100"), now=NOW)
    verdict = risk_check(symbol="BTC/USDT", side="sell", broker=FakeBroker(), now=NOW)
    assert verdict.allowed and verdict.is_exit


def test_periodic_task_uses_the_process_broker(monkeypatch, alerts):
    from apps.exchange import services as exchange_services
    from apps.risk.tasks import drawdown_check_task

    broker = FakeBroker(quote_balance=Decimal("2000"))
    monkeypatch.setattr(exchange_services, "get_broker", lambda: broker)
    result = drawdown_check_task.apply().get()
    assert result["equity"] == "2000" and result["breached"] is False
    assert "fetch_balance" in broker.calls
