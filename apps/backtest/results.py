"""What a backtest run returns: its trades, the decision at every candle, the equity curve and the metrics.

Apart from the engine so that `apps.backtest.metrics` can read a result without importing the engine that
computes the metrics (the engine imports both).
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, overload

import numpy as np

from apps.backtest.series import CandleSeries
from apps.signals.policy import BUY, HOLD, SELL, Rule


@dataclass
class Trade:
    entry_time: datetime
    entry_price: Decimal
    amount: Decimal
    cost: Decimal
    entry_fee: Decimal
    stop_loss: Decimal
    take_profit: Decimal
    entry_score: float
    entry_index: int = 0
    exit_time: datetime | None = None
    exit_price: Decimal | None = None
    exit_fee: Decimal = Decimal(0)
    proceeds: Decimal = Decimal(0)
    reason: str = ""  # stop_loss / take_profit / signal / end_of_data
    candles_held: int = 0

    @property
    def fees(self) -> Decimal:
        return self.entry_fee + self.exit_fee

    @property
    def pnl(self) -> Decimal:
        return self.proceeds - self.cost - self.fees

    def as_json(self) -> dict[str, Any]:
        return {
            "entry_time": self.entry_time.isoformat(),
            "entry_price": _s(self.entry_price),
            "amount": _s(self.amount),
            "cost": _s(self.cost),
            "stop_loss": _s(self.stop_loss),
            "take_profit": _s(self.take_profit),
            "entry_score": round(self.entry_score, 6),
            "exit_time": self.exit_time.isoformat() if self.exit_time else None,
            "exit_price": _s(self.exit_price),
            "proceeds": _s(self.proceeds),
            "fees": _s(self.fees),
            "pnl": _s(self.pnl),
            "pnl_pct": _s((self.pnl / self.cost * 100).quantize(Decimal("0.0001"))) if self.cost else "0",
            "reason": self.reason,
            "candles_held": self.candles_held,
        }


@dataclass(frozen=True)
class StepDecision:
    """What the backtest decided at one candle's close (kept for the parity test and the record)."""

    index: int
    time: datetime  # the candle's close
    action: str
    score: float
    rule: str
    previous_action: str | None
    blocked_by: str = ""


_ACTIONS = (HOLD, BUY, SELL)
_BLOCK_NAMES = [""]  # code 0: not blocked
_BLOCK_CODES = {"": 0}
_RULES = tuple(str(r) for r in Rule)
_RULE = {str(r): i for i, r in enumerate(Rule)}


class DecisionLog(Sequence[StepDecision]):
    """Every decision of a run as columns; items are StepDecision built on access."""

    def __init__(self, series: CandleSeries, span: timedelta, first: int, score, action, rule, long, blocked):
        self._series, self._span, self.first = series, span, first
        self.score, self.action, self.rule, self.long = score, action, rule, long  # arrays over candles
        self.blocked = blocked  # candle index -> code of the rule that refused its buy (0: none)

    def __len__(self) -> int:
        return max(0, len(self._series) - self.first)

    def counts(self) -> dict[str, int]:
        codes = np.bincount(self.action[self.first :], minlength=len(_ACTIONS))
        return {name: int(c) for name, c in zip(_ACTIONS, codes, strict=True) if c}

    def _item(self, i: int) -> StepDecision:
        j = self.first + i
        return StepDecision(
            index=j,
            time=self._series.time(j) + self._span,
            action=_ACTIONS[self.action[j]],
            score=float(self.score[j]),
            rule=_RULES[self.rule[j]],
            previous_action=BUY if self.long[j] else None,
            blocked_by=_BLOCK_NAMES[self.blocked[j]],
        )

    @overload
    def __getitem__(self, i: int) -> StepDecision: ...
    @overload
    def __getitem__(self, i: slice) -> list[StepDecision]: ...
    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self._item(k) for k in range(*i.indices(len(self)))]
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError(i)
        return self._item(i)

    def __iter__(self) -> Iterator[StepDecision]:
        return (self._item(k) for k in range(len(self)))


@dataclass(frozen=True)
class _Segment:
    """Candles [start, stop) marked with a position: equity = cash + amount * close."""

    start: int
    stop: int
    cash: Decimal
    amount: Decimal


class EquityCurve(Sequence[tuple[datetime, Decimal]]):
    """Equity at every candle close: floats for statistics (`floats`), exact Decimal (time, equity) items."""

    def __init__(self, series: CandleSeries, span: timedelta, floats: np.ndarray, flat_cash, segments, last):
        self._series, self._span, self.floats = series, span, floats
        self._flat: list[tuple[int, Decimal]] = flat_cash  # (from candle index, cash) while flat, in order
        self._segments: list[_Segment] = segments
        self._starts = [s.start for s in segments]
        self._flat_starts = [i for i, _ in flat_cash]
        self._last = last  # the final equity (cash after an end-of-data close)

    def __len__(self) -> int:
        return int(self.floats.shape[0])

    def value(self, i: int) -> Decimal:
        if i == len(self) - 1:
            return self._last
        k = bisect.bisect_right(self._starts, i) - 1
        if k >= 0 and i < self._segments[k].stop:
            seg = self._segments[k]
            return seg.cash + seg.amount * self._series.price("close", i)
        return self._flat[bisect.bisect_right(self._flat_starts, i) - 1][1]

    def _item(self, i: int) -> tuple[datetime, Decimal]:
        return self._series.time(i) + self._span, self.value(i)

    @overload
    def __getitem__(self, i: int) -> tuple[datetime, Decimal]: ...
    @overload
    def __getitem__(self, i: slice) -> list[tuple[datetime, Decimal]]: ...
    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self._item(k) for k in range(*i.indices(len(self)))]
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError(i)
        return self._item(i)

    def __iter__(self) -> Iterator[tuple[datetime, Decimal]]:
        return (self._item(k) for k in range(len(self)))


@dataclass
class BacktestResult:
    trades: list[Trade]
    equity_curve: EquityCurve
    decisions: DecisionLog
    blocks: dict[str, int]
    metrics: dict[str, Any] = field(default_factory=dict)


def _s(value: Decimal | None) -> str | None:
    if value is None:
        return None
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "") else text
