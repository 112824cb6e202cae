"""What happens to the account without any API call: tests and the control endpoint use these."""

from __future__ import annotations

import random
import threading
from decimal import Decimal
from typing import TYPE_CHECKING

from apps.exchange.simulator.errors import order_not_found
from apps.exchange.simulator.orders import PriceOrder, SimOrder, SimTrade

if TYPE_CHECKING:
    from apps.exchange.simulator.markets import MarketSpec


class BehindTheBackMixin:
    """Mixed into ExchangeSimulator: cancel or fill behind the bot's back, seed history, count orders."""

    # ExchangeSimulator's state and methods this mixin works with (declared here for type checkers).
    lock: threading.RLock
    seed: int
    maker_fee: Decimal
    _orders: dict[str, SimOrder]
    _purged: list[SimOrder]
    _finished: dict[str, dict[str, SimOrder]]
    _trades: dict[str, list[SimTrade]]
    _price: dict[str, Decimal]
    if TYPE_CHECKING:

        def now_ms(self) -> int: ...
        def spec(self, symbol_or_pair: str) -> MarketSpec: ...
        def cancel(self, order: SimOrder, finish_as: str = "cancelled") -> SimOrder: ...
        def find_order(self, order_id: str, pair: str | None = None) -> SimOrder: ...
        def open_orders(self, symbol: str | None = None) -> list[SimOrder]: ...
        def price_order(self, order_id: str) -> PriceOrder: ...
        def cancel_price_order(self, po: PriceOrder) -> PriceOrder: ...
        def _fill(self, order: SimOrder, amount: Decimal, price: Decimal, role: str) -> SimTrade: ...
        def _finish_if_done(self, order: SimOrder) -> None: ...
        def _new_order_id(self) -> str: ...
        def _new_trade_id(self) -> str: ...

    def orders_with_text(self, text: str) -> list[SimOrder]:
        """Every order ever created with this `text`, including ones Gate.io would no longer list."""
        with self.lock:
            found = [o for o in self._orders.values() if o.text == text]
            return found + [o for o in self._purged if o.text == text]

    def order_count(self, symbol: str | None = None, status: str | None = None) -> int:
        """How many orders the exchange holds (purged ones included), optionally of one pair or status."""
        with self.lock:
            pair = self.spec(symbol).pair if symbol else None
            orders = list(self._orders.values()) + self._purged
            return sum(1 for o in orders if (pair is None or o.pair == pair) and (status is None or o.status == status))

    def get_order(self, order_id: str) -> SimOrder:
        with self.lock:
            order = self._orders.get(order_id)
            if order is None:
                raise order_not_found()
            return order

    def cancel_behind_back(self, order_id: str) -> SimOrder:
        """Cancel an open order as if the user did it on the website (by exchange id or open `text`)."""
        with self.lock:
            return self.cancel(self.find_order(order_id))

    def cancel_price_order_behind_back(self, order_id: str) -> PriceOrder:
        """Cancel an open price-triggered order as if the user did it on the website."""
        with self.lock:
            return self.cancel_price_order(self.price_order(order_id))

    def fill_open_orders(
        self, symbol: str | None = None, *, order_id: str | None = None, ratio: Decimal = Decimal(1)
    ) -> list[SimTrade]:
        """Fill open limit orders at their own price (maker) without moving the market: `ratio` of what is left."""
        with self.lock:
            if order_id is not None:
                orders = [self.find_order(order_id)]
            else:
                orders = self.open_orders(symbol)
            trades = []
            for order in orders:
                if not order.is_open or order.type != "limit":
                    continue
                spec = self.spec(order.pair)
                amount = order.left if ratio >= 1 else spec.floor_amount(order.left * Decimal(ratio))
                if amount <= 0:
                    continue
                trades.append(self._fill(order, amount, order.price, "maker"))
                self._finish_if_done(order)
            return trades

    def add_historical_orders(
        self,
        symbol: str,
        count: int,
        *,
        hours: float = 24.0,
        text_prefix: str = "t-hist",
        fills_per_order: int = 1,
        cancelled_share: float = 0.0,
    ) -> list[SimOrder]:
        """Seed `count` finished orders with their fills spread over the last `hours`; balances are untouched.

        Orders are filled limit orders (a `cancelled_share` of them cancelled after a partial fill), with
        texts `{text_prefix}-{n}` and deterministic sides, prices and amounts."""
        with self.lock:
            spec = self.spec(symbol)
            rng = random.Random(f"history:{self.seed}:{spec.pair}:{count}")
            now_ms = self.now_ms()
            start_ms = now_ms - int(hours * 3_600_000)
            price = self._price[spec.pair]
            created = []
            times = sorted(rng.randrange(start_ms, now_ms - 1000) for _ in range(count))
            for n, t in enumerate(times):
                side = "buy" if rng.random() < 0.5 else "sell"
                px = spec.round_price(price * Decimal(str(round(rng.uniform(0.95, 1.05), 6))))
                amount = max(spec.floor_amount(Decimal(20) / px * Decimal(rng.randint(1, 10))), spec.min_base_amount)
                order = SimOrder(
                    id=self._new_order_id(),
                    text=f"{text_prefix}-{n}"[:30],
                    pair=spec.pair,
                    base=spec.base,
                    quote=spec.quote,
                    side=side,
                    type="limit",
                    amount=amount,
                    price=px,
                    time_in_force="gtc",
                    create_ms=t,
                    update_ms=t,
                )
                partial = rng.random() < cancelled_share
                to_fill = spec.floor_amount(amount / 2) if partial else amount
                pieces = max(1, fills_per_order)
                filled = Decimal(0)
                for i in range(pieces):
                    part = to_fill - filled if i == pieces - 1 else spec.floor_amount(to_fill / pieces)
                    if part <= 0:
                        continue
                    rate = self.maker_fee
                    quote = part * px
                    fee = part * rate if side == "buy" else quote * rate
                    fee = fee.quantize(Decimal("1e-12"))
                    trade_us = (t + 1 + i) * 1000
                    trade = SimTrade(
                        id=self._new_trade_id(),
                        order_id=order.id,
                        pair=spec.pair,
                        side=side,
                        role="maker",
                        amount=part,
                        price=px,
                        fee=fee,
                        fee_currency=order.fee_currency,
                        text=order.text,
                        create_us=trade_us,
                    )
                    self._trades[spec.pair].append(trade)
                    order.filled_amount += part
                    order.filled_total += quote
                    order.fee += fee
                    filled += part
                order.update_ms = order.finish_ms = t + 1 + pieces
                order.status = "cancelled" if partial else "closed"
                order.finish_as = "cancelled" if partial else "filled"
                self._orders[order.id] = order
                self._finished[spec.pair][order.id] = order
                created.append(order)
            self._trades[spec.pair].sort(key=lambda tr: tr.create_us)
            return created
