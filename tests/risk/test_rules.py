"""Each entry rule blocks in one test and allows in the complementary case (through `risk_check`)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from apps.exchange.broker import TransientExchangeError
from apps.exchange.types import Market
from apps.reconciliation.models import Discrepancy, ReconciliationRun
from apps.risk.models import RiskEvent, RiskLimits
from apps.risk.services import risk_check, trading_pause
from tests.risk.conftest import NOW, FakeBroker, closed_position, open_position

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("trading_on")]


def check(broker, *, symbol="BTC/USDT", side="buy", now=NOW):
    return risk_check(symbol=symbol, side=side, broker=broker, now=now)


def set_limits(**values) -> None:
    RiskLimits.objects.update_or_create(pk=1, defaults=values)


# --- the trading gate ----------------------------------------------------------------------------------


def test_kill_switch_on_blocks_entries(broker, operator_actor):
    trading_pause(actor=operator_actor, reason="maintenance")
    verdict = check(broker)
    assert not verdict.allowed and verdict.rule == "trading_gate"
    assert verdict.details["halted"] is True and "maintenance" in verdict.message
    assert broker.calls == []  # refused before asking the exchange anything


def test_enable_trading_false_blocks_entries(broker, settings):
    settings.ENABLE_TRADING = False
    verdict = check(broker)
    assert verdict.rule == "trading_gate" and verdict.details["enable_trading"] is False


def test_backtest_mode_blocks_the_live_gate(broker, settings):
    settings.MODE = "backtest"
    assert check(broker).rule == "trading_gate"


def test_gate_open_allows_and_sizes_the_entry(broker):
    verdict = check(broker)
    assert verdict.allowed and not verdict.is_exit
    assert verdict.quote_amount == Decimal("100.00")
    assert verdict.amount == Decimal("0.0020")
    assert verdict.price == Decimal("50000")
    assert RiskEvent.objects.count() == 0


# --- trading hours -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("hour", "minute", "allowed"),
    [(22, 0, True), (23, 59, True), (0, 0, True), (5, 59, True), (6, 0, False), (12, 0, False), (21, 59, False)],
)
def test_hours_window_wrapping_midnight(broker, hour, minute, allowed):
    set_limits(hours="22:00-06:00")
    verdict = check(broker, now=NOW.replace(hour=hour, minute=minute))
    assert verdict.allowed is allowed
    if not allowed:
        assert verdict.rule == "trading_hours"
        assert verdict.details["window"] == "22:00-06:00"


def test_hours_from_settings_when_no_limit_is_set(broker, settings):
    from tradebot.config import parse_hours

    settings.RISK_HOURS_UTC = parse_hours("08:00-20:00")
    assert check(broker, now=NOW.replace(hour=7)).rule == "trading_hours"
    assert check(broker, now=NOW.replace(hour=8)).allowed


def test_hours_use_utc_whatever_the_zone_of_now(broker):
    from zoneinfo import ZoneInfo

    set_limits(hours="08:00-20:00")
    tokyo = NOW.replace(hour=3).astimezone(ZoneInfo("Asia/Tokyo"))  # 12:00 in Tokyo, 03:00 UTC
    assert check(broker, now=tokyo).rule == "trading_hours"


# --- max open positions --------------------------------------------------------------------------------


def test_max_positions_blocks_a_new_symbol_at_the_limit(broker):
    set_limits(max_positions=2)
    open_position("BTC/USDT")
    open_position("ETH/USDT")
    verdict = check(broker, symbol="SOL/USDT")
    assert verdict.rule == "max_positions"
    assert verdict.details["open_positions"] == 2 and verdict.details["limit"] == 2
    assert verdict.details["symbols"] == ["BTC/USDT", "ETH/USDT"]


def test_max_positions_counts_the_symbols_own_open_position(broker):
    set_limits(max_positions=2)
    open_position("BTC/USDT")
    open_position("ETH/USDT")
    verdict = check(broker, symbol="BTC/USDT")
    assert verdict.rule == "max_positions" and verdict.details["symbol_has_position"] is True


def test_max_positions_allows_below_the_limit(broker):
    set_limits(max_positions=2)
    open_position("ETH/USDT")
    assert check(broker, symbol="BTC/USDT").allowed


def test_max_positions_zero_allows_no_entry(broker):
    set_limits(max_positions=0)
    assert check(broker).rule == "max_positions"


# --- position size -------------------------------------------------------------------------------------


def market(**overrides) -> Market:
    values = {
        "symbol": "BTC/USDT",
        "base": "BTC",
        "quote": "USDT",
        "amount_precision": 3,
        "price_precision": 2,
        "min_amount": Decimal("0.001"),
        "min_notional": Decimal("10"),
    }
    values.update(overrides)
    return Market(**values)


def test_size_rounding_down_below_min_notional_blocks():
    # 10 USDT at 6000 is 0.001666 BTC, truncated to 0.001 BTC = 6 USDT: under the 10 USDT minimum.
    set_limits(position_size_usd=Decimal("10"))
    verdict = check(FakeBroker(price=Decimal("6000"), market=market()))
    assert verdict.rule == "position_size"
    assert Decimal(verdict.details["amount"]) == Decimal("0.001")
    assert Decimal(verdict.details["notional"]) == Decimal("6.000")
    assert "minimum notional" in verdict.message


def test_size_rounds_down_to_precision_above_minimums():
    set_limits(position_size_usd=Decimal("100.009"))
    verdict = check(FakeBroker(price=Decimal("6000"), market=market()))
    assert verdict.allowed
    assert verdict.quote_amount == Decimal("100.00")  # truncated to the price precision
    assert verdict.amount == Decimal("0.016")  # 100 / 6000 = 0.01666..., truncated to 3 places
    assert verdict.amount * verdict.price >= Decimal("10")


def test_size_below_min_amount_blocks():
    verdict = check(FakeBroker(price=Decimal("50000"), market=market(min_amount=Decimal("0.01"))))
    assert verdict.rule == "position_size" and "minimum amount" in verdict.message


def test_size_quote_below_min_notional_blocks():
    set_limits(position_size_usd=Decimal("5"))
    verdict = check(FakeBroker(price=Decimal("1"), market=market(min_notional=Decimal("10"))))
    assert verdict.rule == "position_size"


def test_inactive_market_blocks():
    assert check(FakeBroker(market=market(active=False))).rule == "position_size"


# --- consecutive losses --------------------------------------------------------------------------------


def three_losses(last_at):
    closed_position("-5", last_at - timedelta(hours=2))
    closed_position("-3", last_at - timedelta(hours=1))
    closed_position("-1.5", last_at)


def test_consecutive_losses_pause_entries_during_the_cooldown(broker):
    last = NOW - timedelta(minutes=30)
    three_losses(last)
    verdict = check(broker)
    assert verdict.rule == "consecutive_losses"
    assert verdict.details["losses"] == 3
    assert verdict.details["until"] == (last + timedelta(minutes=60)).isoformat()


def test_consecutive_losses_cooldown_expires(broker):
    three_losses(NOW - timedelta(minutes=60))
    assert check(broker).allowed  # exactly LOSS_COOLDOWN_MIN after the last loss
    assert check(broker, now=NOW - timedelta(minutes=1)).rule == "consecutive_losses"


def test_a_win_among_the_last_n_allows(broker):
    closed_position("-5", NOW - timedelta(minutes=40))
    closed_position("2", NOW - timedelta(minutes=20))
    closed_position("-1", NOW - timedelta(minutes=10))
    assert check(broker).allowed


def test_fewer_losses_than_the_limit_allow(broker):
    closed_position("-5", NOW - timedelta(minutes=20))
    closed_position("-1", NOW - timedelta(minutes=10))
    assert check(broker).allowed


def test_consecutive_losses_limit_and_cooldown_from_risk_limits(broker):
    set_limits(max_consecutive_losses=1, loss_cooldown_min=5)
    closed_position("-1", NOW - timedelta(minutes=4))
    assert check(broker).rule == "consecutive_losses"
    assert check(broker, now=NOW + timedelta(minutes=1)).allowed


def test_losses_closed_after_now_are_not_seen(broker):
    """A replay at `now` must not see the future."""
    three_losses(NOW + timedelta(minutes=10))
    assert check(broker).allowed


# --- breaker open --------------------------------------------------------------------------------------


def test_open_private_orders_breaker_blocks_entries(broker):
    breaker = broker.breakers["private_orders"]
    for _ in range(breaker.threshold):
        breaker.on_failure(TransientExchangeError("timeout"))
    assert breaker.state() == "open"
    verdict = check(broker)
    assert verdict.rule == "breaker_open"
    assert verdict.details == verdict.details | {"breaker": "fake:private_orders", "state": "open"}


def test_closed_breaker_allows(broker):
    breaker = broker.breakers["private_orders"]
    breaker.on_failure(TransientExchangeError("one timeout"))  # below the threshold
    assert breaker.state() == "closed"
    assert check(broker).allowed


# --- unresolved discrepancies --------------------------------------------------------------------------


def discrepancy(symbol: str, *, resolved: bool = False) -> Discrepancy:
    run = ReconciliationRun.objects.create(started_at=timezone.now(), status="discrepancies")
    return Discrepancy.objects.create(run=run, symbol=symbol, kind="balance", resolved=resolved)


def test_unresolved_discrepancy_blocks_entries_on_that_symbol(broker):
    row = discrepancy("BTC/USDT")
    verdict = check(broker)
    assert verdict.rule == "unresolved_discrepancies"
    assert verdict.details["count"] == 1 and verdict.details["discrepancy_ids"] == [row.pk]
    assert verdict.details["kinds"] == ["balance"]


def test_discrepancy_on_another_symbol_or_resolved_allows(broker):
    discrepancy("ETH/USDT")
    discrepancy("BTC/USDT", resolved=True)
    assert check(broker).allowed


def test_an_entry_order_still_in_flight_blocks_the_next_signal_entry(broker, make_order):
    """A cycle re-run after a worker crash (or on the next candle) while the first entry is still open, sent
    or of unknown outcome must not send a second entry for the same symbol (tests/e2e/test_worker_crash.py saw
    two signal orders when the restarted cycle crossed into the next candle)."""
    from apps.trading.models import OrderStatus
    from apps.trading.services import order_transition

    order = make_order(symbol="BTC/USDT", side="buy")
    for status in (OrderStatus.NEW, OrderStatus.SUBMITTED, OrderStatus.OPEN):
        if status != OrderStatus.NEW:
            order_transition(order_id=order.pk, to=status)
        result = check(broker)
        assert not result.allowed and result.rule == "entry_in_flight", status
    assert check(broker, symbol="ETH/USDT").rule != "entry_in_flight"  # another symbol is not held up

    order_transition(order_id=order.pk, to=OrderStatus.CANCELLED)
    assert check(broker).allowed
