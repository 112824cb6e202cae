"""Backtest metrics. Money stays Decimal (as strings in JSON); ratios (Sharpe, profit factor) are floats,
and so are the per-candle returns behind the Sharpe ratio."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from apps.backtest.results import BacktestResult, EquityCurve
    from apps.backtest.rules import SimBook

PCT = Decimal("0.0001")
MONEY = Decimal("1e-8")
SECONDS_PER_YEAR = 365 * 24 * 3600  # crypto trades every day


def _s(value: Decimal) -> str:
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "") else text


def _m(value: Decimal) -> str:
    """Money in a report: 8 decimals (the trades keep the exact values)."""
    return _s(value.quantize(MONEY))


def _pct(part: Decimal, whole: Decimal) -> Decimal:
    return (part / whole * 100).quantize(PCT) if whole else Decimal(0)


def max_drawdown_pct(equity: list[Decimal]) -> Decimal:
    """The largest fall from a running peak, in percent of that peak."""
    peak, worst = Decimal(0), Decimal(0)
    for value in equity:
        if value > peak:
            peak = value
        elif peak > 0:
            worst = max(worst, (peak - value) / peak)
    return (worst * 100).quantize(PCT)


def max_drawdown_of(curve: EquityCurve) -> Decimal:
    """`max_drawdown_pct` of a whole run's curve: the worst (peak, trough) pair is found with the float
    curve, and valued with the exact Decimal equity at those two candles."""
    values = curve.floats
    if values.shape[0] == 0:
        return Decimal(0)
    peaks = np.maximum.accumulate(np.maximum(values, 0.0))
    with np.errstate(divide="ignore", invalid="ignore"):
        falls = np.where(peaks > 0, (peaks - values) / peaks, 0.0)
    trough = int(np.argmax(falls))
    if falls[trough] <= 0:
        return Decimal(0)
    peak = int(np.argmax(values[: trough + 1]))
    top, bottom = curve.value(peak), curve.value(trough)
    return max_drawdown_pct([top, bottom])


def sharpe_ratio(equity: Sequence[Decimal] | np.ndarray, span_seconds: float) -> float | None:
    """Mean over standard deviation of the per-candle equity returns, annualised by sqrt(candles a year);
    risk-free rate 0. None with fewer than two returns or no variation."""
    values = np.asarray(equity, dtype=np.float64)
    before, after = values[:-1], values[1:]
    keep = before > 0
    returns = after[keep] / before[keep] - 1.0
    if returns.shape[0] < 2:
        return None
    mean = float(returns.mean())  # numpy's pairwise sums: a float ratio, rounded to 4 places below
    variance = float(((returns - mean) ** 2).sum()) / (returns.shape[0] - 1)
    if variance <= 0:
        return None
    return round(mean / math.sqrt(variance) * math.sqrt(SECONDS_PER_YEAR / span_seconds), 4)


def compute_metrics(
    result: BacktestResult, *, initial_cash: Decimal, span_seconds: float, in_position: int, book: SimBook
) -> dict[str, Any]:
    trades = result.trades
    pnls = [t.pnl for t in trades]
    wins = [p for p in pnls if p > 0]
    losses = [p for p in pnls if p < 0]
    gross_profit, gross_loss = sum(wins, Decimal(0)), sum(losses, Decimal(0))
    realized = sum(pnls, Decimal(0))
    fees = sum((t.fees for t in trades), Decimal(0))
    curve = result.equity_curve
    candles = len(curve)
    final = curve.value(candles - 1) if candles else initial_cash
    return {
        "candles": candles,
        "decisions": len(result.decisions),
        "actions": result.decisions.counts(),
        "trades": len(trades),
        "wins": len(wins),
        "losses": len(losses),
        "win_rate_pct": _s(_pct(Decimal(len(wins)), Decimal(len(trades)))),
        "initial_equity": _s(initial_cash),
        "final_equity": _m(final),
        "total_return_pct": _s(_pct(final - initial_cash, initial_cash)),
        "realized_pnl": _m(realized),
        "gross_profit": _m(gross_profit),
        "gross_loss": _m(gross_loss),
        "fees": _m(fees),
        "average_trade": _m(realized / len(trades)) if trades else "0",
        "profit_factor": round(float(gross_profit / -gross_loss), 4) if gross_loss else None,
        "max_drawdown_pct": _s(max_drawdown_of(curve)),
        "sharpe": sharpe_ratio(curve.floats, span_seconds),
        "exposure_pct": _s(_pct(Decimal(in_position), Decimal(candles))),
        "exits": dict(Counter(t.reason for t in trades)),
        "blocked": dict(result.blocks),
        "halted_at": book.halted_at.isoformat() if book.halted_at else None,
    }
