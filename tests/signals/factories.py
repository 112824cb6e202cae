"""Candles and a stand-in broker for the signal tests (no exchange code involved)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from apps.exchange.types import Candle
from apps.trading.venues import current_venue

T0 = datetime(2025, 1, 6, 12, 0, tzinfo=UTC)


def random_walk(
    n: int, *, seed: int = 7, start: float = 100.0, drift: float = 0.0, vol: float = 0.01, step=timedelta(minutes=1)
) -> list[Candle]:
    """A reproducible random-walk series of `n` candles opening at T0, T0+step, ..."""
    rng = random.Random(seed)
    candles = []
    close = start
    for i in range(n):
        open_ = close
        close = open_ * (1.0 + drift + rng.gauss(0.0, vol))
        high = max(open_, close) * (1.0 + abs(rng.gauss(0.0, vol / 3)))
        low = min(open_, close) * (1.0 - abs(rng.gauss(0.0, vol / 3)))
        volume = rng.lognormvariate(3.0, 0.6)
        candles.append(
            Candle(
                time=T0 + i * step,
                open=Decimal(f"{open_:.8f}"),
                high=Decimal(f"{high:.8f}"),
                low=Decimal(f"{low:.8f}"),
                close=Decimal(f"{close:.8f}"),
                volume=Decimal(f"{volume:.6f}"),
            )
        )
    return candles


def trend(n: int, *, up: bool = True, seed: int = 3) -> list[Candle]:
    return random_walk(n, seed=seed, drift=0.004 if up else -0.004, vol=0.002)


class StubBroker:
    """Only what the signal pipeline uses of the Broker protocol: fetch_ohlcv."""

    name = "stub"

    @property
    def venue(self) -> str:
        """The mode's books, as the real broker of the mode would say."""
        return current_venue()

    def __init__(self, candles: list[Candle], error: Exception | None = None) -> None:
        self.candles = candles
        self.error = error
        self.calls: list[tuple[str, str, int]] = []

    def fetch_ohlcv(self, symbol: str, timeframe: str, limit: int) -> list[Candle]:
        self.calls.append((symbol, timeframe, limit))
        if self.error is not None:
            raise self.error
        return list(self.candles[-limit:])


def ending_now(n: int, **kwargs) -> list[Candle]:
    """`n` 1m candles whose last one opened at the current minute (so it is still forming)."""
    from django.utils import timezone

    candles = random_walk(n, **kwargs)
    minute = timezone.now().replace(second=0, microsecond=0)
    shift = minute - candles[-1].time
    return [Candle(c.time + shift, c.open, c.high, c.low, c.close, c.volume) for c in candles]
