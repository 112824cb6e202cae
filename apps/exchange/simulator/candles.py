"""Deterministic candles: the price process (or a seeded walk) before the simulator started, the recorded path after."""

from __future__ import annotations

import bisect
import math
import random
from decimal import Decimal

from apps.exchange.simulator.errors import invalid_param
from apps.exchange.simulator.markets import MarketSpec, fmt
from apps.exchange.simulator.process import PriceProcess

INTERVALS = {
    "10s": 10,
    "1m": 60,
    "5m": 300,
    "15m": 900,
    "30m": 1800,
    "1h": 3600,
    "4h": 14400,
    "8h": 28800,
    "1d": 86400,
    "7d": 604800,
    "30d": 2592000,
}
MAX_POINTS_AGO = 10000


class PriceHistory:
    """The price path of one pair: (epoch seconds, price) points, the first one being the anchor."""

    def __init__(self, start: float, price: Decimal, max_points: int = 200_000) -> None:
        self.times: list[float] = [start]
        self.prices: list[Decimal] = [price]
        self.max_points = max_points

    def add(self, t: float, price: Decimal) -> None:
        if t < self.times[-1]:
            t = self.times[-1]
        self.times.append(t)
        self.prices.append(price)
        if len(self.times) > self.max_points:
            # Keep the anchor (index 0) and drop the oldest recorded points after it.
            drop = len(self.times) - self.max_points
            del self.times[1 : 1 + drop]
            del self.prices[1 : 1 + drop]

    def price_at(self, t: float) -> Decimal:
        i = bisect.bisect_right(self.times, t) - 1
        return self.prices[max(i, 0)]


class CandleMaker:
    """Gate.io candlesticks of one pair. Before the start (the history's anchor) they come from the price
    process (`process.py`) for intervals of 1 minute to 1 hour, and from a walk of their own for the others
    (10s, 4h and longer); from the start on they are the recorded price path."""

    def __init__(self, seed: int, spec: MarketSpec, history: PriceHistory, process: PriceProcess | None = None) -> None:
        self.seed = seed
        self.spec = spec
        self.history = history
        self.process = process
        self._closes: dict[int, list[Decimal]] = {}  # per duration: closes of buckets k0-1, k0-2, ...

    def _rng(self, dur: int, k: int) -> random.Random:
        return random.Random(f"{self.seed}:{self.spec.pair}:{dur}:{k}")

    def _vol(self, dur: int) -> float:
        return min(0.001 * (dur / 60) ** 0.5, 0.2)

    def _synthetic_close(self, dur: int, k: int, k0: int) -> Decimal:
        """Close of bucket k < k0, walking back from the anchor price (the close of bucket k0-1)."""
        closes = self._closes.setdefault(dur, [self.history.prices[0]])
        back = k0 - 1 - k
        while len(closes) <= back:
            j = k0 - len(closes)  # the bucket whose close we know (closes[-1]) is j; its return gives close j-1
            r = Decimal(str(round(self._rng(dur, j).gauss(0, self._vol(dur)), 8)))
            closes.append(closes[-1] / (1 + r))
        return closes[back]

    def _from_process(self, dur: int) -> bool:
        return self.process is not None and dur % 60 == 0 and dur <= 3600

    def _process_price(self, log_price: float) -> Decimal:
        anchor = float(self.history.prices[0])
        return Decimal(repr(anchor * math.exp(log_price)))

    def candle(self, dur: int, k: int, now: float) -> list[str]:
        t0 = self.history.times[0]
        k0 = int(t0 // dur)
        start, end = k * dur, (k + 1) * dur
        rng = self._rng(dur, -k - 1)
        first = start // 60 - int(t0 // 60)  # minutes from the anchor minute to this bucket's start
        if self._from_process(dur) and first < 0:
            assert self.process is not None
            per = dur // 60
            minutes = min(per, -first)  # the minutes of this bucket before the anchor minute
            bar = self.process.bars(first, 1, minutes)[0]
            o, c = self._process_price(bar.open), self._process_price(bar.close)
            h, low = self._process_price(bar.high), self._process_price(bar.low)
            if k == k0:  # the bucket the simulator started in: the rest is the recorded path
                lo_i = 1
                hi_i = bisect.bisect_left(self.history.times, min(end, now + 1e-6))
                points = [self.history.prices[0], *self.history.prices[lo_i:hi_i]]
                c = points[-1]
                h, low = max(h, *points), min(low, *points)
        elif k < k0:
            o = self._synthetic_close(dur, k - 1, k0)
            c = self._synthetic_close(dur, k, k0)
            vol = self._vol(dur)
            h = max(o, c) * (1 + Decimal(str(round(abs(rng.gauss(0, vol / 2)), 8))))
            low = min(o, c) * (1 - Decimal(str(round(abs(rng.gauss(0, vol / 2)), 8))))
        else:
            o = self._synthetic_close(dur, k0 - 1, k0) if k == k0 else self.history.price_at(start - 1e-6)
            lo_i = bisect.bisect_left(self.history.times, start)
            hi_i = bisect.bisect_left(self.history.times, min(end, now + 1e-6))
            inside = self.history.prices[max(lo_i, 1 if k == k0 else lo_i) : hi_i]
            points = [o, *inside]
            c = points[-1]
            h, low = max(points), min(points)
        base_vol = Decimal(str(round(rng.uniform(5, 50) * dur / 60 * 1000 / max(float(o), 1e-9), 6)))
        base_vol = self.spec.floor_amount(base_vol)
        closed = "true" if end <= now else "false"
        rp = self.spec.round_price
        return [
            str(start),
            fmt((base_vol * c).quantize(Decimal("1e-8"))),
            fmt(rp(c)),
            fmt(rp(h)),
            fmt(rp(low)),
            fmt(rp(o)),
            fmt(base_vol),
            closed,
        ]

    def candles(
        self, interval: str, now: float, limit: int | None, start: int | None, end: int | None
    ) -> list[list[str]]:
        dur = INTERVALS.get(interval)
        if dur is None:
            raise invalid_param("invalid argument: interval")
        k_now = int(now // dur)
        if start is not None:
            k_end = min(int((end if end is not None else now) // dur), k_now)
            k_start = int(start // dur) if start % dur == 0 else int(start // dur) + 1
            if k_end - k_start + 1 > 1000:
                raise invalid_param("Too many points requested. Maximum 1000 points are allowed")
        else:
            n = 100 if limit is None else limit
            if n < 1 or n > 1000:
                raise invalid_param("invalid argument: limit")
            k_end = min(int(end // dur), k_now) if end is not None else k_now
            k_start = k_end - n + 1
        if k_now - k_start > MAX_POINTS_AGO:
            raise invalid_param(f"Candlestick too long ago. Maximum {MAX_POINTS_AGO} points ago are allowed")
        return [self.candle(dur, k, now) for k in range(k_start, k_end + 1)]
