"""The engine on synthetic candles: entries, protective exits, fees, Decimal money, offline risk rules."""

from __future__ import annotations

from dataclasses import fields
from decimal import Decimal

import pytest

from apps.backtest.engine import Trade, protective_hit, run_backtest
from apps.backtest.params import BacktestParams
from tests.backtest.candles import MARKET, next_candle, uptrend
from tests.backtest.candles import T0 as MARKET_T0

MINUTE = __import__("datetime").timedelta(minutes=1)

NO_COSTS = {"fee_pct": "0", "slippage_bps": "0", "window": 100}


def replay(candles, **overrides):
    params = BacktestParams.from_settings({**NO_COSTS, **overrides})
    return run_backtest(candles, symbol="BTC/USDT", timeframe="1m", market=MARKET, params=params)


def first_entry_index(candles) -> int:
    trade = replay(candles).trades[0]
    return next(i for i, c in enumerate(candles) if c.time == trade.entry_time)


def test_an_uptrend_makes_a_profitable_trade():
    result = replay(uptrend())
    assert result.trades and result.trades[0].pnl > 0
    assert Decimal(result.metrics["realized_pnl"]) > 0 and Decimal(result.metrics["total_return_pct"]) > 0
    assert result.trades[0].reason == "take_profit"


def test_an_entry_fills_at_the_next_open_after_the_buy_decision():
    candles = uptrend()
    result = replay(candles)
    buy = next(d for d in result.decisions if d.action == "buy")
    assert result.trades[0].entry_time == candles[buy.index + 1].time
    assert result.trades[0].entry_price == candles[buy.index + 1].open


def test_a_crash_after_the_entry_triggers_the_stop():
    candles = uptrend()
    k = first_entry_index(candles)
    entry = candles[k]
    close = float(entry.close)
    crash = next_candle(entry, high=close * 1.0001, low=close * 0.90, close=close * 0.91)
    result = replay(candles[: k + 1] + [crash])
    trade = result.trades[0]
    assert trade.reason == "stop_loss"
    assert trade.exit_price == trade.stop_loss == Decimal("48901.4")  # 2 % under the entry, on the 0.1 step
    assert trade.pnl < 0


def test_a_gap_through_the_stop_fills_at_the_open():
    candles = uptrend()
    k = first_entry_index(candles)
    entry = candles[k]
    gap_open = float(entry.close) * 0.95
    crash = next_candle(entry, open_=gap_open, high=gap_open, low=gap_open * 0.99, close=gap_open * 0.995)
    trade = replay(candles[: k + 1] + [crash]).trades[0]
    assert trade.reason == "stop_loss" and trade.exit_price == crash.open < trade.stop_loss


def test_stop_and_take_in_one_candle_count_as_the_stop():
    candles = uptrend()
    k = first_entry_index(candles)
    entry = candles[k]
    close = float(entry.close)
    wild = next_candle(entry, high=close * 1.10, low=close * 0.90, close=close * 1.05)
    trade = replay(candles[: k + 1] + [wild]).trades[0]
    assert trade.reason == "stop_loss" and trade.exit_price == trade.stop_loss


def test_protective_hit_tests_the_low_before_the_high():
    c = uptrend()[0]
    both = type(c)(c.time, Decimal(100), Decimal(120), Decimal(80), Decimal(100), Decimal(1))
    assert protective_hit("BTC/USDT", Decimal(90), Decimal(110), both) == "stop_loss"
    high_only = type(c)(c.time, Decimal(100), Decimal(120), Decimal(95), Decimal(100), Decimal(1))
    assert protective_hit("BTC/USDT", Decimal(90), Decimal(110), high_only) == "take_profit"
    inside = type(c)(c.time, Decimal(100), Decimal(105), Decimal(95), Decimal(100), Decimal(1))
    assert protective_hit("BTC/USDT", Decimal(90), Decimal(110), inside) is None


def test_fees_reduce_pnl_exactly():
    candles = uptrend()
    free = replay(candles).trades
    charged = replay(candles, fee_pct="0.2").trades
    assert [(t.entry_time, t.exit_time) for t in free] == [(t.entry_time, t.exit_time) for t in charged]
    for a, b in zip(free, charged, strict=True):
        assert b.fees == (b.cost + b.proceeds) * Decimal("0.002")
        assert a.pnl - b.pnl == b.fees
        assert b.pnl == b.proceeds - b.cost - b.fees
    total_fees = sum((t.fees for t in charged), Decimal(0))
    assert sum((t.pnl for t in free), Decimal(0)) - sum((t.pnl for t in charged), Decimal(0)) == total_fees


def test_slippage_moves_fills_against_us():
    candles = uptrend()
    plain, slipped = replay(candles).trades[0], replay(candles, slippage_bps="10").trades[0]
    assert slipped.entry_price == plain.entry_price * Decimal("1.001")
    assert slipped.exit_price < plain.exit_price or slipped.reason != plain.reason


def test_money_is_decimal_everywhere():
    result = replay(uptrend(), fee_pct="0.2", slippage_bps="5")
    money = [
        f.name
        for f in fields(Trade)
        if f.name not in ("entry_time", "exit_time", "reason", "candles_held", "entry_index")
    ]
    for trade in result.trades:
        for name in money:
            if name != "entry_score":
                assert isinstance(getattr(trade, name), Decimal), name
        assert isinstance(trade.pnl, Decimal) and isinstance(trade.fees, Decimal)
    assert all(isinstance(v, Decimal) for _, v in result.equity_curve)
    for key in ("final_equity", "realized_pnl", "fees", "gross_profit", "gross_loss", "average_trade"):
        Decimal(result.metrics[key])


def test_metrics_hold_what_the_report_promises():
    metrics = replay(uptrend(), fee_pct="0.2").metrics
    assert {
        "trades",
        "win_rate_pct",
        "total_return_pct",
        "realized_pnl",
        "fees",
        "max_drawdown_pct",
        "profit_factor",
        "sharpe",
        "exposure_pct",
        "average_trade",
    } <= set(metrics)
    assert metrics["candles"] == 160 and 0 < Decimal(metrics["exposure_pct"]) < 100


def test_entries_outside_the_trading_hours_are_blocked():
    result = replay(uptrend(), hours="12:00-13:00")  # the candles run from 00:00 to 02:40
    assert result.trades == [] and result.metrics["blocked"]["trading_hours"] > 0
    assert any(d.blocked_by == "trading_hours" for d in result.decisions)


def test_a_position_below_the_minimum_notional_is_blocked():
    result = replay(uptrend(), position_size_usd="1")  # the market's minimum is 3 USDT
    assert result.trades == [] and result.metrics["blocked"]["position_size"] > 0


def test_an_entry_is_sized_to_the_market_precision():
    trade = replay(uptrend(), position_size_usd="100").trades[0]
    assert trade.amount == trade.amount.quantize(MARKET.amount_step) and trade.cost <= Decimal(100)


def test_candles_out_of_order_are_refused():
    from apps.signals.build import FeatureInputError

    candles = uptrend()
    with pytest.raises(FeatureInputError, match="strictly increasing"):
        replay(candles[:50] + [candles[10]] + candles[51:])


def test_an_entry_the_cash_cannot_pay_is_refused_and_cash_never_goes_negative():
    """Sizing checks the cash before each entry (a run with little cash once ended at -100 %)."""
    from tests.backtest.candles import walk

    candles = walk(3000, noise=0.004, seed=5)
    result = replay(
        candles,
        initial_cash="100.5",
        position_size_usd="100",
        fee_pct="0.2",
        stop_loss_pct="0.5",
        take_profit_pct="50",
        max_consecutive_losses=1000,
        max_drawdown_pct="100",
    )
    assert result.metrics["blocked"].get("insufficient_cash", 0) > 0
    assert len(result.trades) >= 1
    assert min(value for _, value in result.equity_curve) >= 0
    cash = Decimal("100.5")
    for trade in result.trades:
        assert trade.cost + trade.entry_fee <= cash  # every entry was paid for
        cash += trade.pnl
    assert any(d.blocked_by == "insufficient_cash" for d in result.decisions)


def test_consecutive_losses_count_as_the_run_goes():
    """The offline loss rule reads a running streak (no rescan of every closed trade at each entry)."""
    from apps.backtest.rules import SimBook

    book = SimBook("BTC/USDT")
    for i, pnl in enumerate(["-1", "-2", "3", "-1", "-1"]):
        book.record_close(MARKET_T0 + i * MINUTE, Decimal(pnl))
    assert book.streak == 2 and book.recent[-2:] == [Decimal("-1"), Decimal("-1")]
