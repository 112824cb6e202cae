"""The backtest engine: the live decision, risk and exit rules walked forward over historical candles.

Pure: no database, no wall clock, no exchange. Time is the candles' own (a decision is made at a candle's
close, `open time + timeframe`), the market comes in as an argument, the account is a `SimBook`.

At each candle, in this order:
1. an order the previous close decided is filled at this candle's open, slippage against us, fee on top;
2. an open position's stop-loss and take-profit are checked against this candle's low and high, the fill
   candle included. The path inside a candle is unknown, so when both levels lie in its range the stop is
   assumed to come first (conservative); a level the open already gapped through fills at the open;
3. equity is marked at the close and the drawdown stop updated;
4. the decision `decide()` would make on the last `window` closed candles (fewer at the start, as `evaluate`
   with `limit`), stance long while a position is open; a buy goes through the offline risk rules (sized
   there) and needs the cash to pay for it and its fee; a sell of an open position is an exit, never blocked.
A position still open after the last candle is closed at its close (reason `end_of_data`).

How it is fast without changing those rules: the features of every window are computed once, over the
whole series (`apps.backtest.features`), so each decision's score is known before the walk; the walk then
jumps from event to event (an entry candidate, the first candle that crosses a stop or a take-profit, the
first sell decision) with array searches. Floats find the events; every price that is booked (fills, fees,
PnL, cash, equity) is the exact Decimal, and a trigger found with floats is confirmed with Decimals.

Fees are charged in the quote currency on each fill's value (Gate.io charges a buy's fee in base; valuing
it in quote at the fill price keeps PnL = proceeds - cost - fees exact).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from datetime import time as dtime
from decimal import Decimal

import numpy as np

from apps.backtest.features import SeriesFeatures, series_features
from apps.backtest.metrics import compute_metrics
from apps.backtest.params import BacktestParams
from apps.backtest.results import (
    _BLOCK_CODES,
    _BLOCK_NAMES,
    _RULE,
    BacktestResult,
    DecisionLog,
    EquityCurve,
    Trade,
    _Segment,
)
from apps.backtest.rules import BacktestContext, SimBook, first_block, offline_rules
from apps.backtest.series import EPOCH, MS, CandleSeries
from apps.exchange.gateio import round_down
from apps.exchange.types import Candle, Market
from apps.exits.levels import HUNDRED, round_level
from apps.exits.services import _decide as exit_triggers
from apps.signals.policy import Rule
from apps.signals.services import timeframe_delta

Progress = Callable[[int, int], None]
INSUFFICIENT_CASH = "insufficient_cash"  # the exchange would refuse a buy the balance cannot pay
_BULK_LOOKAHEAD = 4096  # candidates answered per array operation
_BULK_ORDER = ("trading_hours", "consecutive_losses", "max_positions", "max_drawdown", "position_size")


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


def run_backtest(
    candles: Sequence[Candle] | CandleSeries,
    *,
    symbol: str,
    timeframe: str,
    market: Market,
    params: BacktestParams,
    progress: Progress | None = None,
    features: SeriesFeatures | None = None,
) -> BacktestResult:
    """Replay `candles` (closed, oldest first) and return the trades, the equity curve and the metrics.
    `features` (of these candles with this window) may be given already computed, e.g. by a sweep."""
    span = timeframe_delta(timeframe)
    series = candles if isinstance(candles, CandleSeries) else CandleSeries.from_candles(candles)
    if features is None:
        features = series_features(series.ohlcv, params.window)
    elif features.window != params.window or features.spread_atr.shape[0] != len(series):
        raise ValueError("the features given were computed for other candles or another window")
    return _Walk(series, span, symbol, market, params, features, progress).run()


class _Walk:
    """One run's state; `run` walks the candles from event to event."""

    def __init__(self, series, span, symbol, market, params, features, progress) -> None:
        self.series, self.span, self.symbol, self.market, self.params = series, span, symbol, market, params
        self.progress = progress
        self.n = n = len(series)
        self.first = features.first
        self.slip = params.slippage_bps / Decimal(10_000)
        self.fee_rate = params.fee_pct / HUNDRED
        self.limit = params.limits.max_drawdown_pct
        self.rules = offline_rules()
        self.book = SimBook(symbol=symbol, equity=params.initial_cash, peak=params.initial_cash)
        self.cash = params.initial_cash
        self.trades: list[Trade] = []
        self.segments: list[_Segment] = []
        self.flat_cash: list[tuple[int, Decimal]] = [(0, self.cash)]
        self.blocks: Counter[str] = Counter()
        self.blocked = np.zeros(n, dtype=np.int16)  # candle index -> code of the rule that refused its buy
        # The chain as BACKTEST_RULES orders it lets the clock-and-book rules be answered in bulk.
        self._bulk_rules = tuple(r.name for r in self.rules) == _BULK_ORDER
        minute_ok = [params.limits.hours.contains(dtime(m // 60, m % 60)) for m in range(1440)]
        closes_minute = ((series.times + self.span // MS) // 60_000) % 1440
        self.in_hours = np.asarray(minute_ok, dtype=bool)[closes_minute]
        o = series.ohlcv
        self.open, self.high, self.low, self.close = o.open, o.high, o.low, o.close

        # Every decision's score and the policy's inputs, for both stances (the walk picks one per candle).
        score = features.score(params.weights)
        valid = np.zeros(n, dtype=bool)
        valid[self.first :] = True
        self.score = np.where(valid, score, 0.0)
        self.at_entry = valid & (score >= params.thresholds.entry)
        self.at_exit = valid & (score <= params.thresholds.exit)
        rows = np.flatnonzero(self.at_entry)
        self.high_vol = np.zeros(n, dtype=bool)
        self.high_vol[rows] = features.high_volatility(rows)
        tradable = np.arange(n) + 1 < n  # an order decided at the last close has no candle to fill in
        self.buy_candidates = np.flatnonzero(self.at_entry & ~self.high_vol & tradable)
        self.sell_candidates = np.flatnonzero(self.at_exit & tradable)
        self._next_report = 0

    # --- the walk -----------------------------------------------------------------------------------

    def run(self) -> BacktestResult:
        self.book.mark(self.cash, self._closes_at(0), self.limit)  # the first candle's drawdown check
        j = self.first
        while True:
            self._report(j)
            decided = self._next_entry(j)
            if decided is None:
                break
            j = self._enter(decided)
        self._report(self.n - 1, force=True)
        return self._result()

    def _next_entry(self, j: int) -> int | None:
        """The first buy decision at or after candle j that every rule lets through (flat all along)."""
        candidates = self.buy_candidates
        k = int(np.searchsorted(candidates, j))
        while k < candidates.shape[0]:
            k = self._refuse_in_bulk(k)
            if k >= candidates.shape[0]:
                break
            d = int(candidates[k])
            block = self._refusal(d)
            if block is None:
                return d
            self._block(np.array([d]), block)
            k += 1
        return None

    def _refuse_in_bulk(self, k: int) -> int:
        """Between two entries the book does not change, so the rules that only look at the clock and the
        book (trading hours, the loss cooldown, the drawdown halt) give the same answers as the rule
        classes would, computed for all remaining candidates at once. Refuses candidates from the k-th on
        while one of those rules blocks them; returns the index of the first candidate left for the full
        rule chain (sizing and cash), or the end."""
        if not self._bulk_rules:
            return k
        total = self.buy_candidates.shape[0]
        while k < total:
            stop = self._refuse_block(k, min(total, k + _BULK_LOOKAHEAD))
            if stop < min(total, k + _BULK_LOOKAHEAD) or stop >= total:
                return stop
            k = stop
        return k

    def _refuse_block(self, k: int, end: int) -> int:
        """`_refuse_in_bulk` for candidates k .. end-1 (a bounded look-ahead keeps each call short)."""
        cands = self.buy_candidates[k:end]
        reasons = np.zeros(cands.shape[0], dtype=np.int8)  # 0: for the chain
        book, limits = self.book, self.params.limits
        if book.halted:
            reasons[:] = self._code("max_drawdown")
        if book.streak >= limits.max_consecutive_losses and book.closed:
            until = book.closed[-1][0] + timedelta(minutes=limits.loss_cooldown_min)
            until_ms = -((EPOCH - (until - self.span)) // MS)  # decisions at closes before `until` (ceil)
            reasons[self.series.times[cands] < until_ms] = self._code("consecutive_losses")
        reasons[~self.in_hours[cands]] = self._code("trading_hours")
        free = np.flatnonzero(reasons == 0)
        stop = int(free[0]) if free.size else cands.shape[0]
        for code in np.unique(reasons[:stop]):
            self._block(cands[:stop][reasons[:stop] == code], _BLOCK_NAMES[code])
        return k + stop

    def _block(self, rows: np.ndarray, rule: str) -> None:
        self.blocked[rows] = self._code(rule)
        self.blocks[rule] += int(rows.shape[0])

    @staticmethod
    def _code(rule: str) -> int:
        if rule not in _BLOCK_CODES:
            _BLOCK_CODES[rule] = len(_BLOCK_NAMES)
            _BLOCK_NAMES.append(rule)
        return _BLOCK_CODES[rule]

    def _refusal(self, d: int) -> str | None:
        """The rule refusing a buy decided at candle d's close, or None (the quote to spend kept)."""
        self.book.equity = self.cash
        price = self.series.price("close", d)
        ctx = BacktestContext(
            symbol=self.symbol,
            side="buy",
            now=self._closes_at(d),
            broker=None,
            limits=self.params.limits,
            market=self.market,
            price=price,
            book=self.book,
        )
        block = first_block(self.rules, ctx)
        if block is not None:
            return block.rule
        if ctx.sizing is None:
            return "position_size"
        # The fill buys at most quote / price, so quote plus its fee bounds what the entry can cost.
        if ctx.sizing.quote_amount * (1 + self.fee_rate) > self.cash:
            return INSUFFICIENT_CASH
        self._quote = ctx.sizing.quote_amount
        return None

    def _enter(self, d: int) -> int:
        """Fill the buy decided at d at the next open, run the position to its exit; the next candle to
        decide at (flat) is returned."""
        k = d + 1
        price = self.series.price("open", k) * (1 + self.slip)
        amount = round_down(self._quote / price, self.market.amount_precision)
        if amount <= 0 or amount < self.market.min_amount:
            self.blocks["position_size"] += 1
            return k
        cost = amount * price
        stop, take = exit_levels_for(price, self.params, self.market)
        score = float(self.score[d])
        trade = Trade(self.series.time(k), price, amount, cost, cost * self.fee_rate, stop, take, score, k)
        self.cash -= cost + trade.entry_fee
        self.book.position_open = True
        x, reason = self._exit_point(k, stop, take)
        if reason == "signal":
            exit_price, exit_time, held_to = self.series.price("open", x) * (1 - self.slip), self.series.time(x), x
        elif reason == "end_of_data":
            last = self.n - 1
            exit_price, exit_time, held_to = self.series.price("close", last) * (1 - self.slip), None, last
            exit_time = self._closes_at(last)
        else:
            open_ = self.series.price("open", x)
            level = min(open_, stop) if reason == "stop_loss" else max(open_, take)
            exit_price, exit_time, held_to = level * (1 - self.slip), self._closes_at(x), x
        stop_index = min(x, self.n)
        self.segments.append(_Segment(k, stop_index, self.cash, amount))
        self._drawdown_during(k, stop_index, self.cash, amount)
        trade.exit_price, trade.exit_time, trade.reason = exit_price, exit_time, reason
        trade.proceeds = amount * exit_price
        trade.exit_fee = trade.proceeds * self.fee_rate
        trade.candles_held = held_to - k + 1
        self.cash += trade.proceeds - trade.exit_fee
        self.book.position_open = False
        self.book.record_close(exit_time, trade.pnl)
        self.trades.append(trade)
        if x < self.n:
            self.flat_cash.append((x, self.cash))
            self.book.mark(self.cash, self._closes_at(x), self.limit)
        return x

    def _exit_point(self, k: int, stop: Decimal, take: Decimal) -> tuple[int, str]:
        """(candle index, reason) of the exit of a position filled at candle k: the first candle whose range
        crosses a level (checked before that candle's decision), or the open after the first sell decision."""
        s = int(np.searchsorted(self.sell_candidates, k))
        sell = int(self.sell_candidates[s]) if s < self.sell_candidates.shape[0] else None
        hit = self._first_hit(k, self.n if sell is None else sell + 1, stop, take)
        if hit is not None:
            return hit
        if sell is not None:
            return sell + 1, "signal"
        return self.n, "end_of_data"

    def _first_hit(self, k: int, end: int, stop: Decimal, take: Decimal) -> tuple[int, str] | None:
        """The first candle in [k, end) whose low reaches the stop or whose high reaches the take-profit,
        searched with floats in growing blocks and confirmed with the exact prices."""
        stop_f, take_f = float(stop), float(take)
        start, size = k, 64
        while start < end:
            stop_at = min(end, start + size)
            crossed = (self.low[start:stop_at] <= stop_f) | (self.high[start:stop_at] >= take_f)
            for found in np.flatnonzero(crossed):
                t = int(found) + start
                reason = protective_hit(self.symbol, stop, take, self.series.candle(t))
                if reason is not None:
                    return t, reason
            start, size = stop_at, size * 4
        return None

    def _drawdown_during(self, start: int, stop: int, cash: Decimal, amount: Decimal) -> None:
        """Mark candles [start, stop) holding `amount`: the peak follows, and the drawdown stop halts entries
        at the first close where the exact drawdown reaches the limit (floats find it, Decimals decide)."""
        if stop <= start:
            return
        book = self.book

        def exact(t: int) -> Decimal:
            return cash + amount * self.series.price("close", start + t)

        equity = float(cash) + float(amount) * self.close[start:stop]
        peak0 = float(book.peak)
        if not book.halted:
            peaks = np.maximum.accumulate(np.maximum(equity, peak0))
            with np.errstate(divide="ignore", invalid="ignore"):
                drawdown = np.where(peaks > 0, (peaks - equity) / peaks * 100.0, 0.0)
            # SimBook rounds the drawdown to 4 places: look from half a step below the limit, in floats.
            for found in np.flatnonzero(drawdown >= float(self.limit) - 1e-4):
                t = int(found)
                best = int(np.argmax(equity[: t + 1]))
                if equity[best] >= peak0:
                    book.peak = max(book.peak, exact(best))
                book.mark(exact(t), self._closes_at(start + t), self.limit)
                if book.halted:
                    break
        top = int(np.argmax(equity))
        if equity[top] >= peak0:
            book.peak = max(book.peak, exact(top))
        book.equity = exact(stop - start - 1)

    # --- the record ---------------------------------------------------------------------------------

    def _result(self) -> BacktestResult:
        n = self.n
        long = np.zeros(n, dtype=bool)
        for seg in self.segments:
            long[seg.start : seg.stop] = True
        action = np.zeros(n, dtype=np.int8)  # hold
        rule = np.full(n, _RULE[Rule.HYSTERESIS_HOLD], dtype=np.int8)
        flat = ~long
        rule[flat & self.at_exit] = _RULE[Rule.FLAT_NO_ENTRY_HOLD]
        rule[flat & self.at_entry & self.high_vol] = _RULE[Rule.REGIME_HIGH_VOL_HOLD]
        buys = flat & self.at_entry & ~self.high_vol
        rule[buys], action[buys] = _RULE[Rule.SCORE_ABOVE_ENTRY], 1
        rule[long & self.at_entry] = _RULE[Rule.IN_POSITION_HOLD]
        sells = long & self.at_exit
        rule[sells], action[sells] = _RULE[Rule.SCORE_BELOW_EXIT], 2
        decisions = DecisionLog(self.series, self.span, self.first, self.score, action, rule, long, self.blocked)

        floats = np.empty(n)
        for (begin, cash), end in zip(self.flat_cash, [s.start for s in self.segments] + [n], strict=False):
            floats[begin:end] = float(cash)
        for seg in self.segments:
            floats[seg.start : seg.stop] = float(seg.cash) + float(seg.amount) * self.close[seg.start : seg.stop]
        floats[n - 1] = float(self.cash)
        curve = EquityCurve(self.series, self.span, floats, self.flat_cash, self.segments, self.cash)
        result = BacktestResult(trades=self.trades, equity_curve=curve, decisions=decisions, blocks=dict(self.blocks))
        result.metrics = compute_metrics(
            result,
            initial_cash=self.params.initial_cash,
            span_seconds=self.span.total_seconds(),
            in_position=int(long.sum()),
            book=self.book,
        )
        return result

    def _closes_at(self, i: int) -> datetime:
        return self.series.time(i) + self.span

    def _report(self, j: int, force: bool = False) -> None:
        if self.progress is None or (j < self._next_report and not force):
            return
        self.progress(min(j + 1, self.n), self.n)
        self._next_report = j + max(1, self.n // 100)
