"""The engine against an independent reference written here, trade for trade: a plain-Python EMA cross
(EMA9 over EMA21 in ATRs, the live policy's hysteresis and high-volatility hold), stop-loss / take-profit on
each candle's range, fills at the next open, a fee on every fill. Nothing of the engine or of
apps.signals is used by the reference: if either drifts from the rules in the engine's docstring, this fails."""

from __future__ import annotations

import math
import statistics
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, Decimal

import pytest

from apps.backtest.engine import run_backtest
from apps.backtest.params import BacktestParams
from tests.backtest.candles import MARKET, walk

WINDOW = 60
ENTRY, EXIT = 0.1, -0.1
FEE = Decimal("0.2")  # percent of each fill's value
SL, TP = Decimal("0.8"), Decimal("1.5")
QUOTE = Decimal("100")


def reference_score(candles) -> tuple[float, bool]:
    """(tanh((EMA9 - EMA21) / ATR14), high volatility) of a window, by the definitions, in loops."""
    closes = [float(c.close) for c in candles]

    def ema(period: int) -> float:
        alpha, value = 2 / (period + 1), closes[0]
        for x in closes[1:]:
            value += alpha * (x - value)
        return value

    ranges = [float(candles[0].high - candles[0].low)]
    for prev, c in zip(candles, candles[1:], strict=False):
        h, lo, pc = float(c.high), float(c.low), float(prev.close)
        ranges.append(max(h - lo, abs(h - pc), abs(lo - pc)))
    atr = sum(ranges[:14]) / 14
    atrs = [atr]
    for r in ranges[14:]:
        atr += (r - atr) / 14
        atrs.append(atr)
    usual = statistics.median(atrs[-50:])
    ratio = (atr / usual if usual > 0 else 0.0) if atr > 0 else 1.0
    spread = (ema(9) - ema(21)) / atr if atr > 0 else 0.0
    return math.tanh(spread), ratio >= 1.5


def reference_trades(candles) -> list[tuple]:
    trades, position, pending = [], None, None
    for j, c in enumerate(candles):
        if pending == "buy":
            price = c.open
            amount = (QUOTE / price).quantize(Decimal("0.000001"), rounding=ROUND_DOWN)
            step = Decimal("0.1")
            stop = (price * (1 - SL / 100)).quantize(step, rounding=ROUND_HALF_EVEN)
            take = (price * (1 + TP / 100)).quantize(step, rounding=ROUND_HALF_EVEN)
            position = {"time": c.time, "price": price, "amount": amount, "stop": stop, "take": take}
        elif pending == "sell":
            trades.append(close(position, c.open, c.time, "signal"))
            position = None
        pending = None
        if position is not None:
            if c.low <= position["stop"]:
                trades.append(close(position, min(c.open, position["stop"]), c.time, "stop_loss"))
                position = None
            elif c.high >= position["take"]:
                trades.append(close(position, max(c.open, position["take"]), c.time, "take_profit"))
                position = None
        if j + 1 < 35 or j + 1 == len(candles):
            continue
        score, high_vol = reference_score(candles[max(0, j + 1 - WINDOW) : j + 1])
        if position is None and score >= ENTRY and not high_vol:
            pending = "buy"
        elif position is not None and score <= EXIT:
            pending = "sell"
    if position is not None:
        trades.append(close(position, candles[-1].close, candles[-1].time, "end_of_data"))
    return trades


def close(position, price, time, reason) -> tuple:
    cost, proceeds = position["amount"] * position["price"], position["amount"] * price
    pnl = proceeds - cost - (cost + proceeds) * FEE / 100
    return position["time"], position["price"], reason, price, pnl


@pytest.mark.parametrize("seed", [5, 8])
def test_the_engine_makes_the_reference_trades_one_for_one(seed):
    candles = walk(3000, noise=0.003, seed=seed)
    params = BacktestParams.from_settings(
        {
            "weights": {"ema": 1},
            "entry_threshold": ENTRY,
            "exit_threshold": EXIT,
            "stop_loss_pct": str(SL),
            "take_profit_pct": str(TP),
            "fee_pct": str(FEE),
            "slippage_bps": "0",
            "window": WINDOW,
            "initial_cash": "1000000",
            "position_size_usd": str(QUOTE),
            "max_consecutive_losses": 1000,
            "max_drawdown_pct": "100",
            "hours": "00:00-24:00",
        }
    )
    result = run_backtest(candles, symbol="BTC/USDT", timeframe="1m", market=MARKET, params=params)
    expected = reference_trades(candles)
    got = [(t.entry_time, t.entry_price, t.reason, t.exit_price, t.pnl) for t in result.trades]
    assert len(expected) > 20
    assert len({reason for _, _, reason, _, _ in expected}) >= 3  # signal and both protective exits
    for i, (mine, theirs) in enumerate(zip(got, expected, strict=False)):
        assert mine == theirs, i
    assert len(got) == len(expected)
