"""What the exchange layer returns: small frozen dataclasses with Decimal, never raw ccxt dicts."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal


@dataclass(frozen=True)
class Market:
    symbol: str  # unified, BTC/USDT
    base: str
    quote: str
    amount_precision: int  # decimal places of the base amount
    price_precision: int  # decimal places of the price
    min_amount: Decimal  # base
    min_notional: Decimal  # quote
    active: bool = True

    @property
    def amount_step(self) -> Decimal:
        return Decimal(1).scaleb(-self.amount_precision)

    @property
    def price_step(self) -> Decimal:
        return Decimal(1).scaleb(-self.price_precision)


@dataclass(frozen=True)
class Ticker:
    symbol: str
    last: Decimal
    bid: Decimal | None
    ask: Decimal | None
    timestamp: datetime


@dataclass(frozen=True)
class Candle:
    time: datetime  # open time, UTC
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal


@dataclass(frozen=True)
class Balance:
    currency: str
    free: Decimal
    used: Decimal

    @property
    def total(self) -> Decimal:
        return self.free + self.used


@dataclass(frozen=True)
class ExchangeOrder:
    """An order as the exchange reports it, with its status already mapped onto ours."""

    exchange_order_id: str
    client_order_id: str | None
    symbol: str
    side: str  # buy / sell
    type: str  # market / limit
    status: str  # one of apps.trading.models.OrderStatus
    amount: Decimal | None  # base (None for a market buy by quote)
    price: Decimal | None
    filled: Decimal
    cost: Decimal
    average_price: Decimal | None
    created_at: datetime
    updated_at: datetime | None = None
    quote_amount: Decimal | None = None
    fee: Decimal | None = None
    fee_currency: str | None = None
    raw_status: str = ""
    finish_as: str = ""


@dataclass(frozen=True)
class ExchangeTrade:
    """One fill (Gate.io my_trades row)."""

    trade_id: str
    exchange_order_id: str
    client_order_id: str | None
    symbol: str
    side: str
    price: Decimal
    amount: Decimal
    cost: Decimal
    fee: Decimal
    fee_currency: str
    is_maker: bool | None
    executed_at: datetime


@dataclass(frozen=True)
class OrderRequest:
    """What we ask the exchange to do; amounts already rounded to the market's precision."""

    symbol: str
    side: str
    type: str
    client_order_id: str
    amount: Decimal | None = None  # base
    quote_amount: Decimal | None = None  # market buy: quote to spend
    price: Decimal | None = None
    params: dict = field(default_factory=dict)


@dataclass(frozen=True)
class TriggerOrder:
    """An exchange-side price-triggered order (Gate.io /spot/price_orders)."""

    exchange_order_id: str
    symbol: str
    trigger_price: Decimal
    rule: str  # "<=" or ">="
    side: str
    amount: Decimal
    status: str  # open / cancelled / finish / failed / expired
    fired_order_id: str | None = None
