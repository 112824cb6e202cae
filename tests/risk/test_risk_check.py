"""risk_check as a whole: exits never blocked, blocks recorded with details and linked to the decision,
counted, and an unreachable exchange refusing the entry."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from prometheus_client import REGISTRY

from apps.exchange.broker import TransientExchangeError
from apps.reconciliation.models import Discrepancy, ReconciliationRun
from apps.risk.models import RiskEvent, RiskLimits
from apps.risk.rules import RiskBlock, Rule
from apps.risk.services import risk_check, trading_pause
from apps.signals.models import Decision
from tests.risk.conftest import NOW, closed_position, open_position

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("trading_on")]


def test_exit_is_never_blocked_by_entry_rules(broker, operator_actor):
    position = open_position("BTC/USDT", amount="0.002")
    # Every entry rule would block: kill switch, hours, positions, losses, breaker, discrepancy, no balance.
    RiskLimits.objects.create(pk=1, max_positions=0, hours="01:00-02:00")
    trading_pause(actor=operator_actor)
    for minutes in (10, 20, 30):
        closed_position("-1", NOW - timedelta(minutes=minutes))
    breaker = broker.breakers["private_orders"]
    for _ in range(breaker.threshold):
        breaker.on_failure(TransientExchangeError("down"))
    run = ReconciliationRun.objects.create(started_at=timezone.now())
    Discrepancy.objects.create(run=run, symbol="BTC/USDT", kind="balance")
    broker.quote_balance = None
    broker.calls.clear()

    verdict = risk_check(symbol="BTC/USDT", side="sell", broker=broker, now=NOW)

    assert verdict.allowed and verdict.is_exit
    assert verdict.amount == Decimal("0.002") and verdict.details["position_id"] == position.pk
    assert broker.calls == [] and RiskEvent.objects.count() == 0


def test_sell_without_a_position_is_refused(broker):
    verdict = risk_check(symbol="BTC/USDT", side="sell", broker=broker, now=NOW)
    assert not verdict.allowed and verdict.rule == "no_position"


def test_block_is_recorded_with_details_and_linked_to_the_decision(broker, operator_actor):
    RiskLimits.objects.create(pk=1, max_positions=1)
    open_position("ETH/USDT")
    decision = Decision.objects.create(symbol="BTC/USDT", timeframe="1m", action="buy", score=0.6)
    before = REGISTRY.get_sample_value("risk_blocks_total", {"rule": "max_positions"}) or 0.0

    verdict = risk_check(symbol="btc/usdt", side="BUY", broker=broker, now=NOW, decision=decision, actor=operator_actor)

    event = RiskEvent.objects.get()
    assert verdict.event_id == event.pk
    assert (event.rule, event.symbol, event.severity, event.decision_id) == (
        "max_positions",
        "BTC/USDT",
        "warning",
        decision.pk,
    )
    assert event.message == verdict.message == "1 open position(s), the limit is 1"
    assert event.details["open_positions"] == 1 and event.details["limit"] == 1
    assert event.details["symbols"] == ["ETH/USDT"]
    assert event.details["side"] == "buy" and event.details["at"] == NOW.isoformat()
    assert event.details["asked_by"] == "operator"
    decision.refresh_from_db()
    assert decision.risk_block["rule"] == "max_positions"
    assert decision.risk_block == verdict.as_risk_block()
    assert REGISTRY.get_sample_value("risk_blocks_total", {"rule": "max_positions"}) == before + 1


def test_only_the_first_block_is_recorded(broker, settings):
    settings.ENABLE_TRADING = False
    RiskLimits.objects.create(pk=1, max_positions=0)
    risk_check(symbol="BTC/USDT", side="buy", broker=broker, now=NOW)
    assert list(RiskEvent.objects.values_list("rule", flat=True)) == ["trading_gate"]


def test_allowed_entry_records_nothing_and_leaves_the_decision_alone(broker):
    decision = Decision.objects.create(symbol="BTC/USDT", timeframe="1m", action="buy", score=0.6)
    verdict = risk_check(symbol="BTC/USDT", side="buy", broker=broker, now=NOW, decision=decision)
    assert verdict.allowed and verdict.as_risk_block() is None
    decision.refresh_from_db()
    assert decision.risk_block is None and RiskEvent.objects.count() == 0


def test_unreachable_exchange_refuses_the_entry(broker):
    def down(symbol):
        raise TransientExchangeError("timeout")

    broker.market = down
    verdict = risk_check(symbol="BTC/USDT", side="buy", broker=broker, now=NOW)
    assert not verdict.allowed and verdict.rule == "position_size"
    assert verdict.details["error_type"] == "TransientExchangeError"


def test_prefetched_market_data_needs_no_broker():
    from apps.exchange.types import Market
    from apps.risk.selectors import Equity

    market = Market("BTC/USDT", "BTC", "USDT", 4, 2, Decimal("0.0001"), Decimal("3"))
    verdict = risk_check(
        symbol="BTC/USDT",
        side="buy",
        broker=None,
        now=NOW,
        market=market,
        price=Decimal("40000"),
        equity=Equity(value=Decimal("1000"), source="balance"),
    )
    assert verdict.allowed and verdict.amount == Decimal("0.0025")


def test_custom_rule_list(broker, settings):
    class Never(Rule):
        name = "never"

        def check(self, ctx):
            return RiskBlock(rule=self.name, message="no", details={"symbol": ctx.symbol})

    settings.MODE = "backtest"  # the live gate is not in this list
    verdict = risk_check(symbol="BTC/USDT", side="buy", broker=broker, now=NOW, rules=[Never()])
    assert verdict.rule == "never" and verdict.details["symbol"] == "BTC/USDT"


def test_naive_now_is_refused(broker):
    with pytest.raises(ValueError):
        risk_check(symbol="BTC/USDT", side="buy", broker=broker, now=NOW.replace(tzinfo=None))


def test_backtest_rules_skip_the_live_gate_but_keep_the_limits(broker, settings):
    from apps.risk.rules import BACKTEST_RULES

    settings.MODE = "backtest"
    assert risk_check(symbol="BTC/USDT", side="buy", broker=broker, now=NOW, rules=BACKTEST_RULES).allowed
    RiskLimits.objects.create(pk=1, hours="01:00-02:00")
    verdict = risk_check(symbol="BTC/USDT", side="buy", broker=broker, now=NOW, rules=BACKTEST_RULES)
    assert verdict.rule == "trading_hours"
