"""What the console's screens show, read through the apps' selectors and one broker per request.

Every exchange read here is guarded: an exchange that is down makes a screen say so, never fail. Chart data
are plain JSON (times in epoch seconds, values as floats for drawing only; the tables show the Decimals)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar

from django.conf import settings
from django.core.cache import cache
from django.utils import timezone

from apps.console.format import Precision, currency_places, distance_pct
from apps.exchange import services as exchange_services
from apps.exchange.broker import Broker, ExchangeError
from apps.exchange.types import Balance, Candle, Ticker
from apps.exits.selectors import exits_active_by_position
from apps.monitoring.selectors import dashboard
from apps.risk.selectors import equity_current
from apps.signals.selectors import decisions_between, decisions_latest_per_symbol
from apps.trading.selectors import (
    fills_between,
    orders_of,
    orders_open,
    pnl_summary,
    positions_open,
    realized_pnl_by_day,
    realized_pnl_since,
)
from tradebot.config import timeframe_seconds

log = logging.getLogger(__name__)

PRECISION_KEY = "console:precision:{symbol}"
PRECISION_SECONDS = 24 * 3600
CHART_CANDLES = 300
OPEN_ORDERS_SHOWN = 20


# --- precision -----------------------------------------------------------------------------------------


def precision_remember(markets: dict[str, Any]) -> None:
    """Keep the markets' precision for the list pages, which never call the exchange themselves."""
    values = {
        PRECISION_KEY.format(symbol=s): (m.amount_precision, m.price_precision)
        for s, m in markets.items()
        if s in settings.SYMBOLS or "/" in s
    }
    try:
        cache.set_many(values, PRECISION_SECONDS)
    except Exception:  # a cache outage only costs the exact precision
        log.warning("console: could not cache market precision")


def market_precision(symbol: str) -> Precision:
    """The market's amount and price places as last read from the exchange (8 and 8 until then)."""
    try:
        found = cache.get(PRECISION_KEY.format(symbol=symbol))
    except Exception:
        found = None
    return Precision(amount=found[0], price=found[1]) if found else Precision()


def quote_of(symbol: str) -> str:
    return symbol.split("/")[1] if "/" in symbol else ""


def base_of(symbol: str) -> str:
    return symbol.split("/")[0]


def account_quote() -> str:
    """The currency the totals (equity, PnL) are in: the quote of the first configured symbol."""
    return quote_of(settings.SYMBOLS[0]) if settings.SYMBOLS else "USDT"


# --- one guarded broker per request ----------------------------------------------------------------------


_T = TypeVar("_T")


class ExchangeReads:
    """The few exchange reads a screen needs, each made at most once, failures remembered as text."""

    def __init__(self, broker: Broker | None) -> None:
        self.broker = broker
        self.errors: list[str] = []
        self._tickers: dict[str, Ticker] | None = None
        self._balance: dict[str, Balance] | None = None
        self._balance_read = False

    def _guard(self, what: str, call: Callable[[Broker], _T]) -> _T | None:
        if self.broker is None:
            return None
        try:
            return call(self.broker)
        except (ExchangeError, OSError, ValueError) as exc:
            self.errors.append(f"{what}: {exc}")
            log.warning("console: %s failed: %s", what, exc)
            return None

    def markets(self) -> None:
        found = self._guard("markets", lambda broker: broker.load_markets())
        if found:
            precision_remember(found)

    def tickers(self, symbols: list[str]) -> dict[str, Ticker]:
        if self._tickers is None:
            found = self._guard("tickers", lambda broker: broker.fetch_tickers(symbols)) if symbols else None
            self._tickers = found or {}
        return self._tickers

    def balance(self) -> dict[str, Balance] | None:
        if not self._balance_read:
            self._balance = self._guard("balances", lambda broker: broker.fetch_balance())
            self._balance_read = True
        return self._balance

    def candles(self, symbol: str, timeframe: str, limit: int) -> list[Candle]:
        return self._guard("candles", lambda broker: broker.fetch_ohlcv(symbol, timeframe, limit)) or []


class _Memo:
    """The broker as equity_current sees it: the reads this request already made, not made twice."""

    def __init__(self, reads: ExchangeReads, broker: Broker) -> None:
        self.reads = reads
        self.venue = broker.venue  # the books the broker behind these reads trades for

    def fetch_tickers(self, symbols: list[str]) -> dict[str, Ticker]:
        tickers = self.reads.tickers(symbols)
        if not tickers and symbols:
            raise ExchangeError("tickers unavailable")
        return tickers

    def fetch_balance(self) -> dict[str, Balance]:
        balance = self.reads.balance()
        if balance is None:
            raise ExchangeError("balances unavailable")
        return balance


def console_broker() -> Broker | None:
    """The process's broker (paper account in paper, the exchange in live); None under MODE=backtest."""

    try:
        return exchange_services.get_broker()  # through the module: tests swap the broker there
    except ValueError:
        return None


# --- the dashboard ---------------------------------------------------------------------------------------


@dataclass
class PositionRow:
    position: Any
    precision: Precision
    last: Decimal | None
    exit: Any
    value: Decimal | None
    unrealized: Decimal | None
    stop_distance_pct: Decimal | None
    take_distance_pct: Decimal | None


@dataclass
class BalanceRow:
    currency: str
    free: Decimal
    used: Decimal
    total: Decimal
    places: int


@dataclass
class Dashboard:
    mode: str
    live: bool
    trading: Any
    quote: str
    monitoring: dict[str, Any]
    balances_source: str
    balances: list[BalanceRow]
    equity: Any
    pnl: dict[str, Decimal]
    unrealized: Decimal | None
    positions: list[PositionRow]
    open_orders: list[Any]
    open_orders_total: int
    decisions: list[Any]
    errors: list[str]
    charts: dict[str, Any] = field(default_factory=dict)
    generated_at: datetime = field(default_factory=timezone.now)


def _epoch(moment: datetime) -> int:
    return int(moment.timestamp())


def _position_rows(positions: list[Any], tickers: dict[str, Ticker]) -> list[PositionRow]:

    exits = exits_active_by_position([p.pk for p in positions])
    rows = []
    for p in positions:
        ticker = tickers.get(p.symbol)
        last = ticker.last if ticker else None
        exit_ = exits.get(p.pk)
        value = p.amount * last if last is not None else None
        rows.append(
            PositionRow(
                position=p,
                precision=market_precision(p.symbol),
                last=last,
                exit=exit_,
                value=value,
                unrealized=value - p.cost_basis if value is not None else None,
                stop_distance_pct=distance_pct(last, exit_.stop_loss_price) if exit_ else None,
                take_distance_pct=distance_pct(last, exit_.take_profit_price) if exit_ else None,
            )
        )
    return rows


def dashboard_view(*, broker: Broker | None, now: datetime | None = None) -> Dashboard:
    """Everything the index shows: at most one markets, one tickers and one balance read of the exchange."""

    now = now or timezone.now()
    reads = ExchangeReads(broker)
    reads.markets()
    positions = list(positions_open().order_by("symbol"))
    symbols = sorted({*settings.SYMBOLS, *(p.symbol for p in positions)})
    tickers = reads.tickers(symbols)
    prices = {s: t.last for s, t in tickers.items() if t.last is not None}
    balance = reads.balance()
    balances = [
        BalanceRow(b.currency, b.free, b.used, b.total, _currency_places(b.currency))
        for b in sorted((balance or {}).values(), key=lambda b: b.currency)
        if b.total != 0
    ]
    equity = None
    if broker is not None:
        try:
            # _Memo has the two reads equity_current makes, not the whole Broker.
            equity = equity_current(broker=_Memo(reads, broker))  # type: ignore[arg-type]
        except (ExchangeError, ValueError) as exc:
            reads.errors.append(f"equity: {exc}")
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    summary = pnl_summary(prices=prices)
    daily = realized_pnl_by_day(days=30, now=now)
    open_orders = orders_open()
    live = settings.MODE == "live"
    monitoring = dashboard()
    return Dashboard(
        mode=settings.MODE,
        live=live,
        trading=monitoring["trading"],
        quote=account_quote(),
        monitoring=monitoring,
        balances_source="Exchange balances (Gate.io)" if live else "Paper account balances",
        balances=balances,
        equity=equity,
        pnl={
            "today": realized_pnl_since(today),
            "7d": realized_pnl_since(now - timedelta(days=7)),
            "30d": realized_pnl_since(now - timedelta(days=30)),
            "all": summary.realized_pnl,
        },
        unrealized=summary.unrealized_pnl if positions and prices else (Decimal(0) if not positions else None),
        positions=_position_rows(positions, tickers),
        open_orders=list(open_orders[:OPEN_ORDERS_SHOWN]),
        open_orders_total=open_orders.count(),
        decisions=decisions_latest_per_symbol(list(settings.SYMBOLS)),
        errors=reads.errors,
        charts={
            "equity": [{"time": _epoch(t), "value": float(v)} for t, v in _dedupe_times(summary.equity_curve)],
            "daily": [{"time": day.strftime("%Y-%m-%d"), "value": float(v)} for day, v in daily],
            "quote": account_quote(),
        },
        generated_at=now,
    )


def _currency_places(currency: str) -> int:

    for symbol in settings.SYMBOLS:
        if base_of(symbol) == currency:
            return market_precision(symbol).amount
    return currency_places(currency)


def _dedupe_times(points: list[tuple[datetime, Decimal]]) -> list[tuple[datetime, Decimal]]:
    """Chart series need strictly increasing times (whole seconds): the last value of each second wins."""
    by_second: dict[int, tuple[datetime, Decimal]] = {}
    for t, v in points:
        by_second[_epoch(t)] = (t, v)
    return [by_second[k] for k in sorted(by_second)]


# --- the symbol page -------------------------------------------------------------------------------------


@dataclass
class SymbolView:
    symbol: str
    timeframe: str
    precision: Precision
    last: Decimal | None
    position: Any
    exit: Any
    decisions: list[Any]
    orders: list[Any]
    errors: list[str]
    chart: dict[str, Any]


def _bar_time(moment: datetime, span: int) -> int:
    seconds = _epoch(moment)
    return seconds - seconds % span


def symbol_view(*, symbol: str, broker: Broker | None, timeframe: str | None = None) -> SymbolView:
    """Candles with our entries and exits, the open position's SL / TP and the decisions' scores."""

    timeframe = timeframe or settings.TIMEFRAME
    span = timeframe_seconds(timeframe)
    reads = ExchangeReads(broker)
    reads.markets()
    candles = reads.candles(symbol, timeframe, CHART_CANDLES)
    tickers = reads.tickers([symbol])
    last = tickers[symbol].last if symbol in tickers else (candles[-1].close if candles else None)
    position = positions_open(symbol).first()
    exit_ = exits_active_by_position([position.pk]).get(position.pk) if position else None
    since = candles[0].time if candles else timezone.now() - timedelta(seconds=span * CHART_CANDLES)

    markers: dict[int, dict[str, Any]] = {}
    for fill in fills_between(symbol, since):
        entry = markers.setdefault(
            fill.order_id,
            {"time": _bar_time(fill.executed_at, span), "side": fill.side, "amount": Decimal(0), "cost": Decimal(0)},
        )
        entry["amount"] += fill.amount
        entry["cost"] += fill.amount * fill.price
    precision = market_precision(symbol)
    chart_markers = []
    for order_id, m in sorted(markers.items(), key=lambda kv: (kv[1]["time"], kv[0])):
        average = m["cost"] / m["amount"]
        chart_markers.append(
            {
                "time": m["time"],
                "side": m["side"],
                "text": f"{'Buy' if m['side'] == 'buy' else 'Sell'} {average:.{precision.price}f}",
                "order": order_id,
            }
        )
    scores: dict[int, dict[str, Any]] = {}
    decisions = decisions_between(symbol, since)
    for d in decisions:
        scores[_bar_time(d.candle_time or d.created_at, span)] = {"score": d.score, "action": d.action}
    lines = []
    if position is not None:
        lines.append({"label": "Entry", "price": float(position.average_entry_price), "kind": "entry"})
    if exit_ is not None:
        lines.append({"label": "SL", "price": float(exit_.stop_loss_price), "kind": "stop"})
        lines.append({"label": "TP", "price": float(exit_.take_profit_price), "kind": "take"})
    chart = {
        "symbol": symbol,
        "timeframe": timeframe,
        "precision": precision.price,
        "candles": [
            {
                "time": _epoch(c.time),
                "open": float(c.open),
                "high": float(c.high),
                "low": float(c.low),
                "close": float(c.close),
            }
            for c in candles
        ],
        "markers": chart_markers,
        "lines": lines,
        "scores": [{"time": t, **scores[t]} for t in sorted(scores)],
    }
    return SymbolView(
        symbol=symbol,
        timeframe=timeframe,
        precision=precision,
        last=last,
        position=position,
        exit=exit_,
        decisions=list(reversed(decisions))[:20],
        orders=list(orders_of(symbol)[:20]),
        errors=reads.errors,
        chart=chart,
    )


# --- backtests -------------------------------------------------------------------------------------------


def backtest_chart(run: Any) -> dict[str, Any]:
    """A run's equity curve and its drawdown from the running peak (percent), for drawing."""
    equity, drawdown = [], []
    peak = Decimal(0)
    seen: set[int] = set()
    for when, value in run.equity_curve or []:
        t = _epoch(datetime.fromisoformat(when))
        if t in seen:
            continue
        seen.add(t)
        v = Decimal(value)
        peak = max(peak, v)
        equity.append({"time": t, "value": float(v)})
        drawdown.append({"time": t, "value": float((v - peak) / peak * 100) if peak else 0.0})
    return {"id": run.pk, "label": f"#{run.pk} {run.symbol} {run.timeframe}", "equity": equity, "drawdown": drawdown}
