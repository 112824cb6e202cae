"""Risk fixtures: a fake broker (market, ticker, balance and its own private-orders breaker on the real
database store), positions made directly, and a fixed clock. The exchange layer is tested elsewhere."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from apps.exchange.breaker import CircuitBreaker, DbStore
from apps.exchange.broker import TransientExchangeError
from apps.exchange.types import Balance, Market, Ticker
from apps.trading.models import Position
from apps.trading.venues import current_venue

NOW = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)


class FakeBroker:
    name = "fake"

    @property
    def venue(self) -> str:
        """The mode's books, as the real broker of the mode would say."""
        return current_venue()

    def __init__(
        self,
        *,
        price: Decimal = Decimal("50000"),
        market: Market | None = None,
        quote_balance: Decimal | None = Decimal("10000"),
    ) -> None:
        self.price = price
        self._market = market or Market(
            symbol="BTC/USDT",
            base="BTC",
            quote="USDT",
            amount_precision=4,
            price_precision=2,
            min_amount=Decimal("0.0001"),
            min_notional=Decimal("3"),
        )
        self.quote_balance = quote_balance  # None: fetch_balance fails
        self.prices: dict[str, Decimal] = {}
        self.breakers = {
            "private_orders": CircuitBreaker("fake:private_orders", DbStore(), threshold=2, cooldown=60),
        }
        self.calls: list[str] = []

    def market(self, symbol: str) -> Market:
        self.calls.append("market")
        return self._market

    def _ticker(self, symbol: str) -> Ticker:
        last = self.prices.get(symbol, self.price)
        return Ticker(symbol=symbol, last=last, bid=last, ask=last, timestamp=NOW)

    def fetch_ticker(self, symbol: str) -> Ticker:
        self.calls.append("fetch_ticker")
        return self._ticker(symbol)

    def fetch_tickers(self, symbols: list[str]) -> dict[str, Ticker]:
        self.calls.append("fetch_tickers")
        return {s: self._ticker(s) for s in symbols}

    def fetch_balance(self) -> dict[str, Balance]:
        self.calls.append("fetch_balance")
        if self.quote_balance is None:
            raise TransientExchangeError("balance endpoint down")
        return {"USDT": Balance(currency="USDT", free=self.quote_balance, used=Decimal(0))}


@pytest.fixture
def broker() -> FakeBroker:
    return FakeBroker()


@pytest.fixture
def trading_on(settings):
    """Paper trading enabled, the contract's default limits."""
    settings.MODE = "paper"
    settings.ENABLE_TRADING = True
    settings.MAX_POSITIONS = 3
    settings.POSITION_SIZE_USD = Decimal("100")
    settings.MAX_DRAWDOWN_PCT = Decimal("5.0")
    settings.MAX_CONSECUTIVE_LOSSES = 3
    settings.LOSS_COOLDOWN_MIN = 60
    from tradebot.config import parse_hours

    settings.RISK_HOURS_UTC = parse_hours("00:00-24:00")
    settings.SYMBOLS = ("BTC/USDT", "ETH/USDT")
    return settings


def open_position(symbol: str = "BTC/USDT", amount: str = "0.002", price: str = "50000") -> Position:
    amount_d, price_d = Decimal(amount), Decimal(price)
    return Position.objects.create(
        symbol=symbol,
        amount=amount_d,
        average_entry_price=price_d,
        cost_basis=amount_d * price_d,
        opened_at=NOW - timedelta(hours=1),
    )


def closed_position(pnl: str, closed_at: datetime, symbol: str = "BTC/USDT") -> Position:
    return Position.objects.create(
        symbol=symbol,
        status=Position.Status.CLOSED,
        realized_pnl=Decimal(pnl),
        opened_at=closed_at - timedelta(minutes=30),
        closed_at=closed_at,
    )
