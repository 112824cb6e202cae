"""What the exchange layer returns: small frozen dataclasses with Decimal, never raw ccxt dicts."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import numpy as np


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


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def epoch_us(moment: datetime) -> int:
    """Microseconds since the epoch of an aware datetime (exact, unlike a float timestamp)."""
    return (moment - _EPOCH) // _MICROSECOND


class Candles(list):
    """Candles oldest first, which also keep their open times and values as arrays, made once per list.

    Signal features are computed on floats; converting 2,500 Decimals for every decision cost more than the
    decision itself. A broker that parses the exchange's strings passes the arrays in; otherwise they are
    made from the Candles on first use. Treat it as read-only: the arrays are not rebuilt on a change.
    """

    def __init__(
        self, candles: Iterable[Candle] = (), *, times_us: np.ndarray | None = None, values: np.ndarray | None = None
    ) -> None:
        super().__init__(candles)
        self._times_us = times_us
        self._values = values

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """(open times as int64 microseconds since the epoch, float64 rows open, high, low, close, volume
        of shape (5, n)). Raises TypeError / ValueError / ArithmeticError for values that are not numbers."""
        times, values = self._times_us, self._values
        if times is None or values is None or values.shape[1] != len(self):
            count = len(self)
            times = np.fromiter((epoch_us(c.time) for c in self), dtype=np.int64, count=count)
            flat = np.fromiter(
                (float(x) for c in self for x in (c.open, c.high, c.low, c.close, c.volume)),
                dtype=np.float64,
                count=5 * count,
            )
            values = flat.reshape(count, 5).T.copy()
            self._times_us, self._values = times, values
        return times, values


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
    filled_exact: bool = True  # False: Gate.io sent no filled_amount; `filled` is to be summed from the trades


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
    status: str  # open / cancelled (either spelling in, `cancelled` out) / finish / failed / expired
    fired_order_id: str | None = None
