"""The backtest engine: the live decision, risk and exit code walked forward over historical candles.

Pure: no database, no wall clock, no exchange. Time is the candles' own (a decision is made at a candle's
close, `open time + timeframe`), the market comes in as an argument, the account is a `SimBook`.

At each candle, in this order:
1. an order the previous close decided is filled at this candle's open, slippage against us, fee on top;
2. an open position's stop-loss and take-profit are checked against this candle's low and high, the fill
   candle included. The path inside a candle is unknown, so when both levels lie in its range the stop is
   assumed to come first (conservative); a level the open already gapped through fills at the open;
3. equity is marked at the close and the drawdown stop updated;
4. `decide()` runs on the last `window` closed candles (fewer at the start, as `evaluate` with `limit`),
   stance long while a position is open; a buy goes through the offline risk rules (sized there), a sell
   of an open position is an exit and never blocked.
A position still open after the last candle is closed at its close (reason `end_of_data`).

Fees are charged in the quote currency on each fill's value (Gate.io charges a buy's fee in base; valuing
it in quote at the fill price keeps PnL = proceeds - cost - fees exact).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from apps.backtest.metrics import compute_metrics
from apps.backtest.params import BacktestParams
from apps.backtest.rules import BacktestContext, SimBook, first_block, offline_rules
from apps.exchange.gateio import round_down
from apps.exchange.types import Candle, Market
from apps.exits.levels import HUNDRED, round_level
from apps.exits.services import _decide as exit_triggers
from apps.signals.build import REQUIRED_CANDLES, FeatureInputError, Ohlcv, ohlcv_from_candles
from apps.signals.pipeline import decide
from apps.signals.policy import BUY, SELL
from apps.signals.services import timeframe_delta

Progress = Callable[[int, int], None]


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


@dataclass
class BacktestResult:
    trades: list[Trade]
    equity_curve: list[tuple[datetime, Decimal]]
    decisions: list[StepDecision]
    blocks: dict[str, int]
    metrics: dict[str, Any] = field(default_factory=dict)


def exit_levels_for(entry: Decimal, params: BacktestParams, market: Market) -> tuple[Decimal, Decimal]:
    """As apps.exits.levels.exit_levels, with the run's percentages and the market's price step."""
    stop = entry * (1 - params.stop_loss_pct / HUNDRED)
    take = entry * (1 + params.take_profit_pct / HUNDRED)
    stop_r, take_r = round_level(stop, market.price_precision), round_level(take, market.price_precision)
    if not (0 <= stop_r < take_r):
        stop_r, take_r = round_level(stop, None), round_level(take, None)
    return stop_r, take_r


def protective_hit(symbol: str, stop: Decimal, take: Decimal, candle: Candle) -> str | None:
    """stop_loss / take_profit / None for one candle, with the live trigger test (`last <= stop`, then
    `last >= take`) applied to the low first and then to the high: both in range means the stop."""
    for price in (candle.low, candle.high):
        hits = exit_triggers([(0, symbol, stop, take)], {symbol: price})
        if hits:
            return str(hits[0][1])
    return None


def _window(ohlcv: Ohlcv, start: int, end: int) -> Ohlcv:
    return Ohlcv(
        ohlcv.open[start:end],
        ohlcv.high[start:end],
        ohlcv.low[start:end],
        ohlcv.close[start:end],
        ohlcv.volume[start:end],
    )


def run_backtest(
    candles: Sequence[Candle],
    *,
    symbol: str,
    timeframe: str,
    market: Market,
    params: BacktestParams,
    progress: Progress | None = None,
) -> BacktestResult:
    """Replay `candles` (closed, oldest first) and return the trades, the equity curve and the metrics."""
    span = timeframe_delta(timeframe)
    for earlier, later in zip(candles, candles[1:], strict=False):
        if later.time <= earlier.time:
            raise FeatureInputError(f"candle times are not strictly increasing at {later.time.isoformat()}")
    ohlcv = ohlcv_from_candles(candles)  # validated once; every decision gets a view of these arrays
    slip = params.slippage_bps / Decimal(10_000)
    fee_rate = params.fee_pct / HUNDRED
    rules = offline_rules()
    book = SimBook(symbol=symbol, equity=params.initial_cash, peak=params.initial_cash)
    cash = params.initial_cash
    trades: list[Trade] = []
    curve: list[tuple[datetime, Decimal]] = []
    decisions: list[StepDecision] = []
    blocks: dict[str, int] = {}
    position: Trade | None = None
    pending: tuple[str, Any] | None = None  # ("buy", quote to spend) or ("sell", None)
    in_position = 0
    total = len(candles)
    every = max(1, total // 100)

    def close(trade: Trade, price: Decimal, at: datetime, reason: str, index: int) -> None:
        nonlocal cash, position
        trade.exit_price, trade.exit_time, trade.reason = price, at, reason
        trade.proceeds = trade.amount * price
        trade.exit_fee = trade.proceeds * fee_rate
        trade.candles_held = index - trade.entry_index + 1
        cash += trade.proceeds - trade.exit_fee
        book.position_open, position = False, None
        book.closed.append((at, trade.pnl))
        trades.append(trade)

    for j, candle in enumerate(candles):
        closes_at = candle.time + span
        # 1. the previous close's order fills at this open
        if pending is not None:
            side, quote = pending
            pending = None
            if side == BUY and position is None:
                price = candle.open * (1 + slip)
                amount = round_down(quote / price, market.amount_precision)
                if amount > 0 and amount >= market.min_amount:
                    cost = amount * price
                    stop, take = exit_levels_for(price, params, market)
                    entry_score = decisions[-1].score if decisions else 0.0
                    position = Trade(candle.time, price, amount, cost, cost * fee_rate, stop, take, entry_score, j)
                    cash -= cost + position.entry_fee
                    book.position_open = True
                else:
                    blocks["position_size"] = blocks.get("position_size", 0) + 1
            elif side == SELL and position is not None:
                close(position, candle.open * (1 - slip), candle.time, "signal", j)
        # 2. protective exits inside this candle
        if position is not None:
            hit = protective_hit(symbol, position.stop_loss, position.take_profit, candle)
            if hit == "stop_loss":
                close(position, min(candle.open, position.stop_loss) * (1 - slip), closes_at, hit, j)
            elif hit == "take_profit":
                close(position, max(candle.open, position.take_profit) * (1 - slip), closes_at, hit, j)
        # 3. mark to market at the close
        if position is not None:
            in_position += 1
        equity = cash + (position.amount * candle.close if position is not None else Decimal(0))
        book.mark(equity, closes_at, params.limits.max_drawdown_pct)
        curve.append((closes_at, equity))
        # 4. decide at the close, exactly as evaluate() would with these candles
        if j + 1 >= REQUIRED_CANDLES:
            previous = BUY if position is not None else None
            result = decide(
                _window(ohlcv, max(0, j + 1 - params.window), j + 1),
                weights=params.weights,
                thresholds=params.thresholds,
                previous_action=previous,
            )
            blocked = ""
            if result.action == BUY and position is None and j + 1 < total:
                ctx = BacktestContext(
                    symbol=symbol,
                    side="buy",
                    now=closes_at,
                    broker=None,
                    limits=params.limits,
                    market=market,
                    price=candle.close,
                    book=book,
                )
                block = first_block(rules, ctx)
                if block is None and ctx.sizing is not None:
                    pending = (BUY, ctx.sizing.quote_amount)
                elif block is not None:
                    blocked = block.rule
                    blocks[block.rule] = blocks.get(block.rule, 0) + 1
            elif result.action == SELL and position is not None and j + 1 < total:
                pending = (SELL, None)
            decisions.append(StepDecision(j, closes_at, result.action, result.score, result.rule, previous, blocked))
        if progress is not None and (j % every == 0 or j + 1 == total):
            progress(j + 1, total)

    if position is not None:
        last = candles[-1]
        close(position, last.close * (1 - slip), last.time + span, "end_of_data", total - 1)
        curve[-1] = (curve[-1][0], cash)
    result = BacktestResult(trades=trades, equity_curve=curve, decisions=decisions, blocks=blocks)
    result.metrics = compute_metrics(
        result, initial_cash=params.initial_cash, span_seconds=span.total_seconds(), in_position=in_position, book=book
    )
    return result


def _s(value: Decimal | None) -> str | None:
    if value is None:
        return None
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "") else text
