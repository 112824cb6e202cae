"""The simulator's records (orders, fills, price-triggered orders) and their Gate.io JSON shapes."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from apps.exchange.simulator.markets import fmt

ZERO = Decimal(0)


@dataclass
class SimOrder:
    id: str
    text: str
    pair: str
    base: str
    quote: str
    side: str  # buy | sell
    type: str  # limit | market
    amount: Decimal  # base; quote for a market buy (Gate.io semantics)
    price: Decimal  # 0 for market orders
    time_in_force: str
    create_ms: int
    update_ms: int
    status: str = "open"  # open | closed | cancelled
    finish_as: str = "open"
    filled_amount: Decimal = ZERO  # base filled
    filled_total: Decimal = ZERO  # quote filled
    fee: Decimal = ZERO
    locked: Decimal = ZERO  # what is still locked for this order (quote for buys, base for sells)
    finish_ms: int = 0  # when it left the order book (0 while open): Gate.io's finished-orders window uses it

    @property
    def is_market_buy(self) -> bool:
        return self.type == "market" and self.side == "buy"

    @property
    def left(self) -> Decimal:
        """What is left, in the unit of `amount` (quote for a market buy)."""
        done = self.filled_total if self.is_market_buy else self.filled_amount
        return max(self.amount - done, ZERO)

    @property
    def is_open(self) -> bool:
        return self.status == "open"

    @property
    def fee_currency(self) -> str:
        # Gate.io charges a buy's fee in the base received and a sell's fee in the quote received.
        return self.base if self.side == "buy" else self.quote

    def as_json(self, *, omit_filled_amount: bool = False) -> dict:
        """Gate.io's shape: millisecond times as strings, no `avg_deal_price` while open (both as real answers
        arrive, GATEIO.md / ccxt's recorded gate.json); `omit_filled_amount` drops `filled_amount` from a
        finished market order, as some real (older) answers do."""
        avg = self.filled_total / self.filled_amount if self.filled_amount else ZERO
        data = {
            "id": self.id,
            "text": self.text,
            "amend_text": "-",
            "create_time": str(self.create_ms // 1000),
            "update_time": str(self.update_ms // 1000),
            "create_time_ms": str(self.create_ms),
            "update_time_ms": str(self.update_ms),
            "status": self.status,
            "currency_pair": self.pair,
            "type": self.type,
            "account": "spot",
            "side": self.side,
            "amount": fmt(self.amount),
            "price": fmt(self.price),
            "time_in_force": self.time_in_force,
            "iceberg": "0",
            "left": fmt(self.left),
            "filled_amount": fmt(self.filled_amount),
            "fill_price": fmt(self.filled_total),
            "filled_total": fmt(self.filled_total),
            "avg_deal_price": fmt(avg.quantize(Decimal("1e-12")) if avg else avg),
            "fee": fmt(self.fee),
            "fee_currency": self.fee_currency,
            "point_fee": "0",
            "gt_fee": "0",
            "gt_maker_fee": "0",
            "gt_taker_fee": "0",
            "gt_discount": False,
            "rebated_fee": "0",
            "rebated_fee_currency": self.quote if self.side == "buy" else self.base,
            "finish_as": self.finish_as,
            "stp_id": 0,
            "stp_act": "-",
        }
        if self.is_open:
            del data["avg_deal_price"]
        elif omit_filled_amount and self.type == "market":
            del data["filled_amount"]
        return data


@dataclass
class SimTrade:
    id: str
    order_id: str
    pair: str
    side: str
    role: str  # maker | taker
    amount: Decimal
    price: Decimal
    fee: Decimal
    fee_currency: str
    text: str
    create_us: int  # microseconds, so fills of one millisecond keep an order

    def as_json(self) -> dict:
        ms = self.create_us // 1000
        return {
            "id": self.id,
            "create_time": str(self.create_us // 1_000_000),
            "create_time_ms": f"{ms}.{self.create_us % 1000:03d}",
            "currency_pair": self.pair,
            "side": self.side,
            "role": self.role,
            "amount": fmt(self.amount),
            "price": fmt(self.price),
            "order_id": self.order_id,
            "fee": fmt(self.fee),
            "fee_currency": self.fee_currency,
            "point_fee": "0",
            "gt_fee": "0",
            "amend_text": "-",
            "sequence_id": self.id,
            "text": self.text,
        }


@dataclass
class PriceOrder:
    id: int
    pair: str
    trigger_price: Decimal
    rule: str  # ">=" or "<="
    expiration: int  # seconds; 0 = none
    put: dict  # type, side, price, amount, account, time_in_force, text?
    trigger_text: str
    create_ms: int
    status: str = "open"  # open | cancelled | finish | failed | expired
    finish_ms: int = 0
    fired_order_id: str = ""
    reason: str = ""
    extra: dict = field(default_factory=dict)

    def as_json(self) -> dict:
        trigger = {"price": fmt(self.trigger_price), "rule": self.rule, "expiration": self.expiration}
        if self.trigger_text:
            trigger["text"] = self.trigger_text
        return {
            "id": self.id,
            "user": 1,
            "market": self.pair,
            "ctime": self.create_ms // 1000,
            "ftime": self.finish_ms // 1000 if self.finish_ms else 0,
            "fired_order_id": int(self.fired_order_id) if self.fired_order_id else 0,
            "status": self.status,
            "reason": self.reason,
            "trigger": trigger,
            "put": dict(self.put),
        }
