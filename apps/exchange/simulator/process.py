"""The simulator's market: one seeded price process that makes both the history and the live path.

The log price is a Brownian motion with drift, sampled every second. Its drift and volatility change by
stretches (`STRETCH_MIN` minutes each) between regimes:

| regime  | drift per minute | volatility per minute |
| calm    | 0                | 1 x volatility        |
| rising  | +0.45 x vol      | 1 x volatility        |
| falling | -0.45 x vol      | 1 x volatility        |
| choppy  | 0                | 1.8 x volatility      |
| rally   | +0.9 x vol       | 1 x volatility        |

`volatility` is the standard deviation of a calm minute's log return (default 0.0008, about BTC's). The
stretches just before and just after the start (the anchor) are always a `rally` (a rise twice as steep as an
ordinary rising stretch, about 1 % in 15 minutes), so a bot started on a fresh simulator sees a clear trend
at every one of its first decisions, whatever minute its first cycle lands on; an ordinary rising stretch's
drift is weak against its noise (the default strategy's score wanders around its entry threshold there, so a
demo could wait 15 minutes for its first trade). Every other stretch is drawn from the seed (never a rally).

Everything is a function of (seed, pair, minutes from the anchor): the same seed gives the same path
whenever the simulator starts. Candles before the start come from the process minute by minute (open,
high, low, close of the per-second path); after the start the simulator's ticker (`ExchangeSimulator.advance`)
sets the price to the same process at the current second, so past and live candles have the same ranges.
Prices are computed as floats relative to the anchor (a market model, not money) and rounded to the pair's
price step as Decimal where the engine takes them.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass

import numpy as np

STRETCH_MIN = 15
BLOCK_MIN = 64  # minutes generated together from one random stream
SECONDS = 60
DEFAULT_VOLATILITY = 0.0008

# regime -> (drift per minute, volatility per minute), both in units of the calm volatility
REGIMES: dict[str, tuple[float, float]] = {
    "calm": (0.0, 1.0),
    "rising": (0.45, 1.0),
    "falling": (-0.45, 1.0),
    "choppy": (0.0, 1.8),
    "rally": (0.9, 1.0),
}
REGIME_WEIGHTS = (("calm", 0.40), ("rising", 0.22), ("falling", 0.22), ("choppy", 0.16))
OPENING_REGIME = "rally"
OPENING_STRETCHES = (-1, 0)  # the stretches just before and just after the start


# per block: the moves at seconds 1..60 of each minute, the move to the next minute, close, high, low
Block = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]


@dataclass(frozen=True)
class MinuteBar:
    """One minute of the path, as log prices relative to the anchor."""

    open: float
    high: float
    low: float
    close: float


class PriceProcess:
    """The log-price path of one pair around an anchor minute (minute 0 starts at the anchor's price)."""

    def __init__(self, seed: int, pair: str, volatility: float = DEFAULT_VOLATILITY) -> None:
        if not (math.isfinite(volatility) and 0 <= volatility < 0.1):
            raise ValueError("volatility must be a number from 0 up to 0.1 (a minute's standard deviation)")
        self.seed = seed % (1 << 63)
        self.pair = pair
        self.volatility = volatility
        self._key = zlib.crc32(pair.encode())
        self._blocks: dict[int, Block] = {}
        self._starts: dict[int, float] = {0: 0.0}  # minute -> log price at its start
        self._lowest = 0  # _starts holds every minute from _lowest to _highest
        self._highest = 0
        self._regimes: dict[int, str] = {}

    # ----- regimes --------------------------------------------------------------------------------
    def regime(self, minute: int) -> str:
        """The regime of `minute` (minutes from the anchor): one per stretch of STRETCH_MIN minutes."""
        stretch = minute // STRETCH_MIN
        name = self._regimes.get(stretch)
        if name is None:
            name = OPENING_REGIME if stretch in OPENING_STRETCHES else self._draw_regime(stretch)
            self._regimes[stretch] = name
        return name

    def _draw_regime(self, stretch: int) -> str:
        draw = np.random.default_rng([self.seed, self._key, 1, stretch + (1 << 40)]).random()
        total = 0.0
        for name, weight in REGIME_WEIGHTS:
            total += weight
            if draw < total:
                return name
        return REGIME_WEIGHTS[-1][0]

    # ----- the per-second path ----------------------------------------------------------------------
    def _block(self, b: int) -> Block:
        """Minutes [b*64, b*64+64): the log moves since each minute's start at its seconds 1..60 (64 x 60),
        and per minute the move to the next minute's start, the close (at second 59, the last tick of the
        minute, as a live candle has it) and the high and low of seconds 0..59."""
        block = self._blocks.get(b)
        if block is None:
            rng = np.random.default_rng([self.seed, self._key, 0, b + (1 << 40)])
            shocks = rng.standard_normal((BLOCK_MIN, SECONDS))
            minutes = range(b * BLOCK_MIN, (b + 1) * BLOCK_MIN)
            params = np.array([REGIMES[self.regime(m)] for m in minutes]) * self.volatility
            drift = params[:, 0:1] / SECONDS
            sigma = params[:, 1:2] / math.sqrt(SECONDS)
            path = np.cumsum(drift + sigma * shocks, axis=1)
            inside = path[:, : SECONDS - 1]
            block = (
                path,
                path[:, -1],
                inside[:, -1],
                np.maximum(inside.max(axis=1), 0.0),
                np.minimum(inside.min(axis=1), 0.0),
            )
            if len(self._blocks) > 20_000:
                self._blocks.clear()
            self._blocks[b] = block
        return block

    def _inside(self, minute: int) -> tuple[np.ndarray, float, float, float, float]:
        path, move, close, high, low = self._block(minute // BLOCK_MIN)
        i = minute % BLOCK_MIN
        return path[i], float(move[i]), float(close[i]), float(high[i]), float(low[i])

    def minute_start(self, minute: int) -> float:
        """Log price at the start of `minute` (0 at minute 0)."""
        while minute > self._highest:
            self._starts[self._highest + 1] = self._starts[self._highest] + self._inside(self._highest)[1]
            self._highest += 1
        while minute < self._lowest:
            self._starts[self._lowest - 1] = self._starts[self._lowest] - self._inside(self._lowest - 1)[1]
            self._lowest -= 1
        return self._starts[minute]

    def bar(self, minute: int) -> MinuteBar:
        """A minute as a live candle records it from ticks: it opens at the previous minute's last tick
        (second 59) and closes at its own."""
        start = self.minute_start(minute)
        _, _, close, high, low = self._inside(minute)
        open_ = self.minute_start(minute - 1) + self._inside(minute - 1)[2]
        return MinuteBar(open_, max(open_, start + high), min(open_, start + low), start + close)

    def _second(self, whole: int) -> float:
        minute, second = divmod(whole, SECONDS)
        start = self.minute_start(minute)
        return start if second == 0 else start + float(self._inside(minute)[0][second - 1])

    def at(self, seconds: float) -> float:
        """Log price `seconds` after the anchor minute's start (the per-second path, linear in between)."""
        whole = math.floor(seconds)
        part = seconds - whole
        here = self._second(whole)
        return here if part == 0 else here + part * (self._second(whole + 1) - here)

    def bars(self, first: int, count: int, per: int) -> list[MinuteBar]:
        """`count` bars of `per` minutes each, the first starting at minute `first`."""
        out = []
        for k in range(count):
            minutes = [self.bar(first + k * per + j) for j in range(per)]
            out.append(
                MinuteBar(
                    minutes[0].open,
                    max(m.high for m in minutes),
                    min(m.low for m in minutes),
                    minutes[-1].close,
                )
            )
        return out
