"""The one broker interface every part of tradebot uses to reach an exchange (live, paper or backtest)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Protocol, runtime_checkable

from apps.exchange.types import (
    Balance,
    Candle,
    ExchangeOrder,
    ExchangeTrade,
    Market,
    OrderRequest,
    Ticker,
    TriggerOrder,
)


class ExchangeError(Exception):
    """Base of every error the exchange layer raises."""


class TransientExchangeError(ExchangeError):
    """Network trouble, timeouts, 5xx, 429: safe to retry for reads."""

    # A lost order answer: when the exchange drops the request unexecuted (x-gate-exptime), if known.
    request_expires_at: datetime | None = None


class RateLimited(TransientExchangeError):
    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class RateLimitWaitExceeded(RateLimited):
    """Our own limiter would have made the call wait longer than allowed: the call was not sent."""


class OutcomeUnknown(TransientExchangeError):
    """A write whose result is not known (timeout after sending): never blindly retried."""


class BusinessError(ExchangeError):
    """The exchange refused the request for a reason retrying will not fix (balance, params, auth)."""

    def __init__(self, message: str, label: str = "") -> None:
        super().__init__(message)
        self.label = label


class OrderNotFound(BusinessError):
    pass


class InsufficientFunds(BusinessError):
    pass


class InvalidOrder(BusinessError):
    """Below minimums, bad precision or bad parameters: caught before sending where we can."""


class AuthenticationError(BusinessError):
    pass


class CircuitOpen(ExchangeError):
    """The breaker for this endpoint class is open: the call was not made."""


@runtime_checkable
class Broker(Protocol):
    name: str
    venue: str  # the books its orders live on: "paper" or "live" (apps.trading.venues.Venue)

    def load_markets(self, reload: bool = False) -> dict[str, Market]: ...

    def market(self, symbol: str) -> Market: ...

    def fetch_ticker(self, symbol: str) -> Ticker: ...

    def fetch_tickers(self, symbols: list[str]) -> dict[str, Ticker]: ...

    def fetch_ohlcv(self, symbol: str, timeframe: str, limit: int) -> list[Candle]: ...

    def fetch_balance(self) -> dict[str, Balance]: ...

    def prepare_order(self, request: OrderRequest) -> OrderRequest:
        """The request rounded to the market's precision; InvalidOrder (nothing sent) below its minimums."""
        ...

    def create_order(self, request: OrderRequest) -> ExchangeOrder: ...

    def fetch_order(self, symbol: str, exchange_order_id: str) -> ExchangeOrder: ...

    def fetch_order_by_client_id(self, symbol: str, client_order_id: str) -> ExchangeOrder | None: ...

    def fetch_open_orders(self, symbol: str) -> list[ExchangeOrder]: ...

    def fetch_closed_orders(self, symbol: str, since: datetime) -> list[ExchangeOrder]: ...

    def fetch_my_trades(self, symbol: str, since: datetime, order_id: str | None = None) -> list[ExchangeTrade]: ...

    def cancel_order(self, symbol: str, exchange_order_id: str) -> ExchangeOrder: ...

    # Optional: exchange-side stops (Gate.io price-triggered orders).
    def create_trigger_order(
        self, symbol: str, side: str, amount: Decimal, trigger_price: Decimal, rule: str, client_order_id: str
    ) -> TriggerOrder: ...

    def fetch_trigger_order(self, symbol: str, exchange_order_id: str) -> TriggerOrder: ...

    def cancel_trigger_order(self, symbol: str, exchange_order_id: str) -> TriggerOrder: ...

    # What apps.trading.submission asks of every broker around a create_order (declared, never probed).
    def check_available(self, endpoint: str = "private_orders") -> None:
        """Raise CircuitOpen when calls of this endpoint class would be refused now (nothing is sent)."""
        ...

    def lost_answer_settles_at(self, error: BaseException, sent_at: datetime) -> datetime:
        """From when a create_order whose answer was lost (`error`, sent at `sent_at`) can no longer appear on
        the exchange: its expiry plus clock skew and visibility lag; `sent_at` for a broker that answers at once."""
        ...

    def order_reached_exchange(self) -> None:
        """A create_order whose answer was lost was found on the exchange (the exchange works: only an answer
        was lost)."""
        ...
