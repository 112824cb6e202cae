"""Price-triggered orders (Gate.io's exchange-side stops) in the simulator's engine: placed, fired when the
price crosses, cancelled with the configured spelling; a put whose account does not fit the account fails."""

from __future__ import annotations

import threading
from decimal import Decimal
from typing import TYPE_CHECKING

from apps.exchange.simulator.errors import SimError, order_not_found
from apps.exchange.simulator.markets import MarketSpec
from apps.exchange.simulator.orders import ZERO, PriceOrder, SimOrder


class PriceOrdersMixin:
    """Mixed into ExchangeSimulator (which holds the lock, the clock, the switches and place_order)."""

    # ExchangeSimulator's state and methods this mixin works with (declared here for type checkers).
    lock: threading.RLock
    unified_account: bool
    price_order_cancelled_status: str
    _price_orders: dict[int, PriceOrder]
    _next_price_order_id: int
    if TYPE_CHECKING:

        def now_ms(self) -> int: ...
        def housekeeping(self) -> None: ...
        def place_order(
            self,
            *,
            symbol: str,
            side: str,
            type: str,
            amount: Decimal,
            price: Decimal = ZERO,
            time_in_force: str = "gtc",
            text: str = "apiv4",
        ) -> SimOrder: ...

    def add_price_order(self, *, pair: str, trigger_price: Decimal, rule: str, expiration: int, put: dict, text: str):
        with self.lock:
            self._next_price_order_id += 1
            po = PriceOrder(
                id=self._next_price_order_id,
                pair=pair,
                trigger_price=trigger_price,
                rule=rule,
                expiration=expiration,
                put=put,
                trigger_text=text,
                create_ms=self.now_ms(),
            )
            self._price_orders[po.id] = po
            return po

    def price_order(self, order_id: str) -> PriceOrder:
        with self.lock:
            self.housekeeping()
            try:
                return self._price_orders[int(order_id)]
            except (KeyError, ValueError):
                raise order_not_found() from None

    def cancel_price_order(self, po: PriceOrder) -> PriceOrder:
        """Cancel an open price order (by the API or behind the bot's back), with the configured spelling."""
        with self.lock:
            if po.status == "open":
                po.status, po.finish_ms = self.price_order_cancelled_status, self.now_ms()
            return po

    def price_orders(self) -> list[PriceOrder]:
        with self.lock:
            self.housekeeping()
            return list(self._price_orders.values())

    def _fire_price_orders(self, spec: MarketSpec, price: Decimal) -> None:
        for po in list(self._price_orders.values()):
            if po.status != "open" or po.pair != spec.pair:
                continue
            hit = price >= po.trigger_price if po.rule == ">=" else price <= po.trigger_price
            if not hit:
                continue
            po.finish_ms = self.now_ms()
            put = po.put
            if self.unified_account and put.get("account") != "unified":
                po.status, po.reason = "failed", "put.account must be unified on a unified account"
                continue
            try:
                order = self.place_order(
                    symbol=spec.pair,
                    side=put["side"],
                    type=put.get("type", "limit"),
                    amount=Decimal(put["amount"]),
                    price=Decimal(put.get("price") or 0),
                    time_in_force=put.get("time_in_force", "gtc") if put.get("type") != "market" else "ioc",
                    text=put.get("text") or po.trigger_text or "apiv4",
                )
            except SimError as exc:
                po.status, po.reason = "failed", exc.label
                continue
            po.status, po.fired_order_id = "finish", order.id
