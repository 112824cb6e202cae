"""Brokers for backtest tests: market data from a fixed list of candles, no network."""

from __future__ import annotations

from datetime import datetime

from apps.exchange.types import Candle, Candles, Market
from apps.trading.venues import current_venue
from tests.backtest.candles import MARKET


class HistoryBroker:
    """Serves ranges of a fixed candle list (`fetch_ohlcv_range`), and the latest candles up to `upto`."""

    name = "history"

    @property
    def venue(self) -> str:
        """The mode's books, as the real broker of the mode would say."""
        return current_venue()

    def __init__(self, candles: list[Candle], market: Market = MARKET, *, as_arrays: bool = False) -> None:
        self.candles = candles
        self.as_arrays = as_arrays  # answer as GateBroker does: Candles with their float arrays
        self.upto = len(candles)  # fetch_ohlcv answers as if candles[upto - 1] were the newest
        self._market = market
        self.range_calls = 0

    def market(self, symbol: str) -> Market:
        return self._market

    def fetch_ohlcv_range(self, symbol: str, timeframe: str, since: datetime, until: datetime) -> list[Candle]:
        self.range_calls += 1
        return [c for c in self.candles if since <= c.time < until]

    def fetch_ohlcv(self, symbol: str, timeframe: str, limit: int) -> list[Candle]:
        latest = self.candles[max(0, self.upto - limit) : self.upto]
        return Candles(latest) if self.as_arrays else latest
