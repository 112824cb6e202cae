"""Candles as columns: what the backtest engine replays.

Prices are float64 arrays (features and triggers compare floats); money is booked in Decimal from the exact
price: the Candle's own Decimal when the series was built from Candles, else the shortest decimal that
reads back as the float (`repr`), which is the file's text for prices of up to 15 significant digits.
Times are int64 milliseconds since the Unix epoch (UTC), the candles' open times.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import numpy as np

from apps.exchange.types import Candle
from apps.signals.build import FeatureInputError, Ohlcv, ohlcv_from_arrays, ohlcv_from_candles

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MS = timedelta(milliseconds=1)
COLUMNS = ("open", "high", "low", "close", "volume")


@dataclass(frozen=True)
class CandleSeries:
    times: np.ndarray  # int64 ms since the epoch, strictly increasing
    ohlcv: Ohlcv
    candles: Sequence[Candle] | None = None  # the exact Decimal candles, when the series came from them
    _digest: list[str] = field(default_factory=list, repr=False, compare=False)

    def __len__(self) -> int:
        return int(self.times.shape[0])

    @classmethod
    def from_candles(cls, candles: Sequence[Candle]) -> CandleSeries:
        """Columns of Candle objects (oldest first); refuses times that do not strictly increase."""
        times = np.fromiter(((c.time - EPOCH) // MS for c in candles), dtype=np.int64, count=len(candles))
        _check_increasing(times)
        return cls(times, ohlcv_from_candles(candles), candles)

    @classmethod
    def from_arrays(cls, times: np.ndarray, open_, high, low, close, volume) -> CandleSeries:
        times = np.ascontiguousarray(times, dtype=np.int64)
        _check_increasing(times)
        return cls(times, ohlcv_from_arrays(open_, high, low, close, volume))

    def time(self, i: int) -> datetime:
        return EPOCH + int(self.times[i]) * MS

    def price(self, column: str, i: int) -> Decimal:
        """The exact price of candle i's `column` (open / high / low / close)."""
        if self.candles is not None:
            return getattr(self.candles[i], column)
        return Decimal(repr(float(getattr(self.ohlcv, column)[i])))

    def candle(self, i: int) -> Candle:
        if self.candles is not None:
            return self.candles[i]
        volume = Decimal(repr(float(self.ohlcv.volume[i])))
        return Candle(
            self.time(i),
            self.price("open", i),
            self.price("high", i),
            self.price("low", i),
            self.price("close", i),
            volume,
        )

    def digest(self) -> str:
        """A content hash (times and prices): the key features are cached under."""
        if not self._digest:
            h = hashlib.blake2b(digest_size=16)
            h.update(self.times.tobytes())
            for name in COLUMNS:
                h.update(np.ascontiguousarray(getattr(self.ohlcv, name)).tobytes())
            self._digest.append(h.hexdigest())
        return self._digest[0]

    def save(self, path) -> None:
        o = self.ohlcv
        np.savez(path, times=self.times, open=o.open, high=o.high, low=o.low, close=o.close, volume=o.volume)

    @classmethod
    def load(cls, path) -> CandleSeries:
        with np.load(path) as d:
            return cls(d["times"], Ohlcv(d["open"], d["high"], d["low"], d["close"], d["volume"]))


def _check_increasing(times: np.ndarray) -> None:
    bad = np.flatnonzero(np.diff(times) <= 0)
    if bad.size:
        at = EPOCH + int(times[bad[0] + 1]) * MS
        raise FeatureInputError(f"candle times are not strictly increasing at {at.isoformat()}")
