"""Synthetic candles for the backtest tests: deterministic, Decimal, one minute apart."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from apps.exchange.types import Candle, Market

T0 = datetime(2024, 1, 1, tzinfo=UTC)
MARKET = Market("BTC/USDT", "BTC", "USDT", 6, 1, Decimal("0.00001"), Decimal("3"))


def walk(n: int, *, start: float = 50000.0, drift: float = 0.0, noise: float = 0.001, seed: int = 1, t0=T0):
    """n one-minute candles of a random walk with `drift` per candle (0.002 = +0.2 %)."""
    rng = random.Random(seed)
    price, out = start, []
    for i in range(n):
        close = price * (1 + drift + rng.gauss(0, noise))
        high, low = max(price, close) * 1.0005, min(price, close) * 0.9995
        out.append(candle(t0 + timedelta(minutes=i), price, high, low, close, rng.uniform(1, 9)))
        price = close
    return out


def candle(time, open_, high, low, close, volume=5.0) -> Candle:
    return Candle(time, *(Decimal(f"{v:.1f}") for v in (open_, high, low, close)), Decimal(f"{volume:.4f}"))


def next_candle(previous: Candle, *, open_=None, high, low, close, minutes: int = 1) -> Candle:
    o = float(previous.close) if open_ is None else open_
    return candle(previous.time + timedelta(minutes=minutes), o, high, low, close)


def uptrend(n: int = 160, seed: int = 3):
    """A quiet range, then a steady climb: the live signal buys on the climb."""
    flat = walk(60, noise=0.0008, seed=seed)
    last = flat[-1]
    rise = walk(
        n - 60, start=float(last.close), drift=0.0015, noise=0.0004, seed=seed + 1, t0=last.time + timedelta(minutes=1)
    )
    return flat + rise
