"""Market data with no network: fixed markets, a deterministic random walk of candles, tickers."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from apps.exchange.broker import InvalidOrder
from apps.exchange.types import Candle, Candles, Market, Ticker

MARKETS = {
    "BTC/USDT": Market("BTC/USDT", "BTC", "USDT", 6, 1, Decimal("0.00001"), Decimal("3")),
    "ETH/USDT": Market("ETH/USDT", "ETH", "USDT", 4, 2, Decimal("0.001"), Decimal("3")),
}
PRICES = {"BTC/USDT": Decimal("50000"), "ETH/USDT": Decimal("3000")}
_STEP = {"m": 60, "h": 3600, "d": 86400}


class StaticMarketData:
    """The market-data half of a Broker (what PaperBroker delegates), answering from memory."""

    name = "static"

    def __init__(self, seed: int = 7) -> None:
        self.seed = seed
        self.ohlcv_calls = 0
        self._candles: dict[tuple[str, str, int, int], list[Candle]] = {}

    def load_markets(self, reload: bool = False) -> dict[str, Market]:
        return MARKETS

    def market(self, symbol: str) -> Market:
        try:
            return MARKETS[symbol]
        except KeyError:
            raise InvalidOrder(f"unknown market {symbol}", label="symbol") from None

    def fetch_ticker(self, symbol: str) -> Ticker:
        price = PRICES[self.market(symbol).symbol]
        return Ticker(symbol, price, price - 1, price + 1, datetime.now(UTC))

    def fetch_tickers(self, symbols: list[str]) -> dict[str, Ticker]:
        return {s: self.fetch_ticker(s) for s in symbols}

    def fetch_ohlcv(self, symbol: str, timeframe: str, limit: int) -> list[Candle]:
        self.ohlcv_calls += 1
        self.market(symbol)
        step = int(timeframe[:-1]) * _STEP[timeframe[-1]]
        now = int(datetime.now(UTC).timestamp())
        last_open = now - now % step
        key = (symbol, timeframe, limit, last_open)
        if key not in self._candles:  # a cache, as a real candle cache would be: one build per candle period
            self._candles = {key: self._build(symbol, step, limit, last_open)}
        return self._candles[key]

    def _build(self, symbol: str, step: int, limit: int, last_open: int) -> Candles:
        timeframe = f"{step}s"
        rng = random.Random(f"{self.seed}:{symbol}:{timeframe}:{last_open}")
        price = float(PRICES[symbol])
        candles = []
        for i in range(limit):
            opened = datetime.fromtimestamp(last_open - (limit - 1 - i) * step, UTC)
            close = price * (1 + rng.gauss(0, 0.002))
            high, low = max(price, close) * 1.001, min(price, close) * 0.999
            candles.append(
                Candle(
                    opened,
                    *(Decimal(f"{v:.2f}") for v in (price, high, low, close)),
                    Decimal(f"{rng.uniform(1, 9):.4f}"),
                )
            )
            price = close
        return Candles(candles)  # like GateBroker's: float arrays made once per list


def paper_broker(data: StaticMarketData | None = None):
    """A PaperBroker (orders in our database) over static market data."""
    from apps.exchange.paper import PaperBroker

    return PaperBroker(data=data or StaticMarketData(), fee_pct=Decimal("0.2"), slippage_bps=Decimal("5"))


def timedelta_for(timeframe: str) -> timedelta:
    return timedelta(seconds=int(timeframe[:-1]) * _STEP[timeframe[-1]])
