"""What the exchange says about one symbol, read in a few batched list calls (never one call per order).

Open orders (of every pair in one call when the broker can, else the symbol's pages), finished orders since
the window start (7-day windows, paginated inside the broker) and, only when some order needs them, our
trades since the earliest such order (paginated too). Gate.io forgets orders that
were cancelled with nothing filled after about a minute, so their absence is normal.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from apps.exchange import gateio
from apps.exchange.broker import Broker
from apps.exchange.types import ExchangeOrder, ExchangeTrade

TERMINAL = frozenset({"filled", "cancelled", "rejected", "expired"})


class CallCounter:
    """Counts what a reconciliation costs on the exchange: HTTP requests when the broker reports them
    (GateBroker's client counts every request, pages included), otherwise broker method calls."""

    def __init__(self, broker: Broker) -> None:
        self.broker = broker
        self.method_calls = 0
        self._start = self._requests()

    def _requests(self) -> int | None:
        client = getattr(self.broker, "client", None)
        value = getattr(client, "tb_requests", None)
        return value if isinstance(value, int) else None

    def call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        self.method_calls += 1
        return getattr(self.broker, method)(*args, **kwargs)

    @property
    def total(self) -> int:
        now = self._requests()
        if now is None or self._start is None:
            return self.method_calls
        return now - self._start


@dataclass
class SymbolView:
    """The exchange's orders (and, once read, trades) of one symbol, indexed for matching."""

    symbol: str
    since: datetime
    orders: dict[str, ExchangeOrder] = field(default_factory=dict)  # exchange id -> order
    by_text: dict[str, list[ExchangeOrder]] = field(default_factory=dict)
    open_complete: bool = True
    trades_since: datetime | None = None
    trades_by_order: dict[str, list[ExchangeTrade]] = field(default_factory=dict)

    def add(self, order: ExchangeOrder) -> None:
        known = self.orders.get(order.exchange_order_id)
        # An order read as open and then as finished (it ended between the two calls): the finished one wins.
        if known is not None and known.status in TERMINAL and order.status not in TERMINAL:
            return
        self.orders[order.exchange_order_id] = order
        if order.client_order_id:
            same = [
                o for o in self.by_text.get(order.client_order_id, []) if o.exchange_order_id != order.exchange_order_id
            ]
            self.by_text[order.client_order_id] = [*same, order]

    def complete_fills(self) -> None:
        """Orders Gate.io sent without filled_amount get it from their trades, once the trades cover them."""
        for key, order in list(self.orders.items()):
            if not order.filled_exact and self.covers_trades_of(order):
                self.orders[key] = gateio.with_fills_from_trades(order, self.trades_of(key))

    def trades_of(self, exchange_order_id: str) -> list[ExchangeTrade]:
        return self.trades_by_order.get(exchange_order_id, [])

    @property
    def has_trades(self) -> bool:
        return self.trades_since is not None

    def covers_trades_of(self, order: ExchangeOrder) -> bool:
        return self.trades_since is not None and self.trades_since <= order.created_at


@dataclass(frozen=True)
class OpenList:
    """The open orders of one symbol and whether the list is known to hold all of them."""

    orders: list[ExchangeOrder]
    complete: bool


def read_all_open(counter: CallCounter) -> dict[str, OpenList] | None:
    """Open orders of every pair in one call (GET /spot/open_orders; a pair with more than a page is paged by
    the broker), or None when the broker cannot list all pairs (the paper broker)."""
    if getattr(counter.broker, "fetch_all_open_orders", None) is None:
        return None
    pairs = counter.call("fetch_all_open_orders")
    return {symbol: OpenList(list(p.orders), p.complete) for symbol, p in pairs.items()}


def read_open(counter: CallCounter, symbol: str) -> OpenList:
    """One symbol's open orders, every page; complete only when the broker says its last page was short."""
    if hasattr(counter.broker, "read_open_orders"):
        pair = counter.call("read_open_orders", symbol)
        return OpenList(list(pair.orders), pair.complete)
    return OpenList(counter.call("fetch_open_orders", symbol), True)  # a broker that lists from its own books


def read_orders(counter: CallCounter, symbol: str, since: datetime, open_list: OpenList | None = None) -> SymbolView:
    """Open orders (`open_list` when already read for all pairs) and finished orders that finished since
    `since` (Gate.io's finished list filters on the finish time)."""
    view = SymbolView(symbol=symbol, since=since)
    # Open orders first: one that finishes between the two calls is then seen twice (the finished copy wins)
    # rather than not at all. One placed in between is missed; absence is only concluded after a grace period.
    if open_list is None:
        open_list = read_open(counter, symbol)
    finished = counter.call("fetch_closed_orders", symbol, since)
    for order in open_list.orders:
        view.add(order)
    for order in finished:
        view.add(order)
    # A list that may be cut short (a full last page, fewer than the pair's total) proves no absence.
    view.open_complete = open_list.complete
    return view


def read_trades(counter: CallCounter, view: SymbolView, since: datetime) -> None:
    """Our trades of the symbol since `since` (one paginated list), grouped by exchange order id."""
    since = since - timedelta(seconds=1)  # Gate.io's `from` is in whole seconds
    trades: list[ExchangeTrade] = counter.call("fetch_my_trades", view.symbol, since)
    grouped: dict[str, list[ExchangeTrade]] = defaultdict(list)
    for trade in trades:
        grouped[trade.exchange_order_id].append(trade)
    for items in grouped.values():
        items.sort(key=lambda t: (t.executed_at, t.trade_id))
    view.trades_by_order = dict(grouped)
    view.trades_since = since
    view.complete_fills()
