"""Features from OHLCV candles, vectorised with numpy (the seed's `_build`).

Every indicator is computed over the whole series with array operations; the recursive averages (EMA,
Wilder's smoothing) use their closed form over blocks (see `ema`), so no Python loop runs per candle.
Features are floats: they describe the market, they are not money.

Definitions (the tests hold these against plain loops):
- EMA(n): alpha = 2 / (n + 1), seeded with the first value.
- Wilder(n) (RSI, ATR): alpha = 1 / n, seeded with the mean of the first n values.
- RSI(14) on close-to-close changes; MACD(12, 26, 9) = EMA12 - EMA26, its EMA9 signal and the histogram.
- ATR(14) of the true range (the first candle's true range is high - low).
- Bollinger %B(20, 2) with the population standard deviation; volume z-score over the last 20 candles.

Each directional feature is normalised into [-1, 1], positive meaning bullish:
- ema    = tanh((EMA9 - EMA21) / ATR)              trend, measured in ATRs
- macd   = tanh(histogram / (0.5 * ATR))           momentum turning
- rsi    = (RSI - 50) / 50                         momentum
- bb     = clip(2 * %B - 1, -1, 1)                 where the close sits in its band
- volume = tanh(z / 2) * sign(close - open)        volume behind the last candle's direction
- atr    = tanh(ln(ATR / median ATR of the last 50))  volatility against its usual level; not directional,
                                                   used by the regime and never weighted into the score.

Regime: `high_volatility` when ATR is at least 1.5x its median over the last 50 candles, else `trend` when the
EMA spread is at least 1 ATR either way, else `range`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from apps.exchange.types import Candle

EMA_FAST = 9
EMA_SLOW = 21
RSI_PERIOD = 14
MACD_FAST = 12
MACD_SLOW = 26
MACD_SIGNAL = 9
ATR_PERIOD = 14
BB_PERIOD = 20
BB_STDDEV = 2.0
VOLUME_PERIOD = 20
VOLATILITY_LOOKBACK = 50

EMA_SCALE_ATR = 1.0
MACD_SCALE_ATR = 0.5
VOLUME_Z_SCALE = 2.0
HIGH_VOLATILITY_RATIO = 1.5
TREND_SPREAD_ATR = 1.0

# The longest lookback any feature needs: the MACD signal is an EMA9 of a line that itself needs EMA26.
# The volatility median uses up to VOLATILITY_LOOKBACK ATR values, fewer when fewer candles are given.
REQUIRED_CANDLES = max(EMA_SLOW, MACD_SLOW + MACD_SIGNAL, RSI_PERIOD + 1, ATR_PERIOD + 1, BB_PERIOD, VOLUME_PERIOD)

REGIME_TREND = "trend"
REGIME_RANGE = "range"
REGIME_HIGH_VOLATILITY = "high_volatility"

# Keep each block's weights w**-k below e**300 so the closed form never overflows a float64.
_MAX_EXPONENT = 300.0


class FeatureInputError(ValueError):
    """The candles cannot make features: too few, not finite, not ordered or not a price."""


@dataclass(frozen=True)
class Ohlcv:
    """Candle columns as float64 arrays of one length, oldest first."""

    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray

    def __len__(self) -> int:
        return int(self.close.shape[0])


@dataclass(frozen=True)
class Features:
    """The last candle's indicator values, their normalised form and the regime they imply."""

    values: dict[str, float]  # raw indicator values, e.g. rsi=61.2, atr=35.1
    normalised: dict[str, float]  # each in [-1, 1]; keys: ema, macd, rsi, bb, volume, atr
    regime: str
    candles: int = field(default=0)


def _require_enough(count: int) -> None:
    if count < REQUIRED_CANDLES:
        raise FeatureInputError(f"{count} candles are too few: the longest feature window needs {REQUIRED_CANDLES}")


def ohlcv_from_candles(candles: Sequence[Candle]) -> Ohlcv:
    """Convert Candle objects (Decimal) to float arrays; validates like `ohlcv_from_arrays`."""
    if not candles:
        raise FeatureInputError(f"no candles: need at least {REQUIRED_CANDLES}")
    # Decimal -> float costs ~0.3 us a value and dominates the decision time; fromiter is the cheapest way.
    values = (float(x) for c in candles for x in (c.open, c.high, c.low, c.close, c.volume))
    try:
        table = np.fromiter(values, dtype=np.float64, count=5 * len(candles)).reshape(-1, 5)
    except (TypeError, ValueError, ArithmeticError, AttributeError) as exc:
        raise FeatureInputError(f"candles hold a value that is not a number: {exc}") from exc
    return ohlcv_from_arrays(table[:, 0], table[:, 1], table[:, 2], table[:, 3], table[:, 4])


def ohlcv_from_arrays(open_, high, low, close, volume) -> Ohlcv:
    """Build validated Ohlcv from array-likes: enough rows, finite, positive prices, high >= low, volume >= 0."""
    columns = [np.ascontiguousarray(a, dtype=np.float64) for a in (open_, high, low, close, volume)]
    n = columns[3].shape[0] if columns[3].ndim == 1 else -1
    if any(c.ndim != 1 or c.shape[0] != n for c in columns):
        raise FeatureInputError("open, high, low, close and volume must be 1-d arrays of one length")
    _require_enough(n)
    table = np.stack(columns)
    if not np.isfinite(table).all():
        raise FeatureInputError("candles hold NaN or infinite values")
    if (table[:4] <= 0).any():
        raise FeatureInputError("candle prices must be greater than 0")
    if (table[4] < 0).any():
        raise FeatureInputError("candle volumes must not be negative")
    if (table[1] < table[2]).any():
        raise FeatureInputError("a candle has its high below its low")
    return Ohlcv(*columns)


# --- recursive averages in closed form -------------------------------------------------------------


def ema(x: np.ndarray, alpha: float, initial: float | None = None) -> np.ndarray:
    """y[t] = y[t-1] + alpha * (x[t] - y[t-1]), with y[-1] = `initial` (default x[0], so y[0] = x[0]).

    Closed form per block: y[j] = w**(j+1) * s + alpha * w**j * cumsum(x[k] * w**-k), w = 1 - alpha,
    where s is the state before the block. Blocks are short enough that w**-k stays finite.
    """
    x = np.asarray(x, dtype=np.float64)
    n = x.shape[0]
    out = np.empty(n, dtype=np.float64)
    if n == 0:
        return out
    w = 1.0 - alpha
    state = float(x[0]) if initial is None else float(initial)
    if w <= 0.0:
        out[:] = x
        return out
    block = n if w == 1.0 else max(1, min(n, int(_MAX_EXPONENT / -math.log(w))))
    powers = w ** np.arange(1, block + 1, dtype=np.float64)  # w**(j+1)
    inverse = 1.0 / powers  # w**-(j+1)
    for start in range(0, n, block):  # a loop over blocks (1 for a few hundred candles), not over candles
        chunk = x[start : start + block]
        m = chunk.shape[0]
        acc = np.cumsum(chunk * inverse[:m])
        out[start : start + m] = powers[:m] * (state + alpha * acc)
        state = float(out[start + m - 1])
    return out


def wilder(x: np.ndarray, period: int) -> np.ndarray:
    """Wilder's smoothing: NaN until index period-1, which holds mean(x[:period]); then alpha = 1/period."""
    out = np.full(x.shape[0], np.nan)
    if x.shape[0] < period:
        return out
    seed = float(x[:period].mean())
    out[period - 1] = seed
    out[period:] = ema(x[period:], 1.0 / period, initial=seed)
    return out


def true_range(high: np.ndarray, low: np.ndarray, close: np.ndarray) -> np.ndarray:
    tr = high - low
    prev = close[:-1]
    tr[1:] = np.maximum(tr[1:], np.maximum(np.abs(high[1:] - prev), np.abs(low[1:] - prev)))
    return tr


def _alpha(period: int) -> float:
    return 2.0 / (period + 1)


def _ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator > 0 else 0.0


# --- the features --------------------------------------------------------------------------------


def build_features(data: Ohlcv | Sequence[Candle]) -> Features:
    """Compute every feature for the last candle of `data` (oldest first)."""
    ohlcv = data if isinstance(data, Ohlcv) else ohlcv_from_candles(data)
    _require_enough(len(ohlcv))
    close, high, low, open_, volume = ohlcv.close, ohlcv.high, ohlcv.low, ohlcv.open, ohlcv.volume
    last_close = float(close[-1])

    ema_fast = float(ema(close, _alpha(EMA_FAST))[-1])
    ema_slow = float(ema(close, _alpha(EMA_SLOW))[-1])

    macd_line = ema(close, _alpha(MACD_FAST)) - ema(close, _alpha(MACD_SLOW))
    macd_signal_series = ema(macd_line, _alpha(MACD_SIGNAL))
    macd = float(macd_line[-1])
    macd_signal = float(macd_signal_series[-1])
    macd_hist = macd - macd_signal

    change = np.diff(close)
    avg_gain = float(wilder(np.maximum(change, 0.0), RSI_PERIOD)[-1])
    avg_loss = float(wilder(np.maximum(-change, 0.0), RSI_PERIOD)[-1])
    if avg_loss > 0:
        rsi = 100.0 - 100.0 / (1.0 + avg_gain / avg_loss)
    else:
        rsi = 100.0 if avg_gain > 0 else 50.0

    atr_series = wilder(true_range(high, low, close), ATR_PERIOD)
    atr = float(atr_series[-1])
    usual_atr = float(np.median(atr_series[ATR_PERIOD - 1 :][-VOLATILITY_LOOKBACK:]))
    volatility_ratio = _ratio(atr, usual_atr) if atr > 0 else 1.0

    window = close[-BB_PERIOD:]
    bb_mid = float(window.mean())
    bb_std = float(window.std())
    bb_width = 2.0 * BB_STDDEV * bb_std
    bb_percent_b = (last_close - (bb_mid - BB_STDDEV * bb_std)) / bb_width if bb_width > 0 else 0.5

    volumes = volume[-VOLUME_PERIOD:]
    volume_std = float(volumes.std())
    volume_z = (float(volumes[-1]) - float(volumes.mean())) / volume_std if volume_std > 0 else 0.0
    direction = float(np.sign(close[-1] - open_[-1]))

    ema_spread_atr = _ratio(ema_fast - ema_slow, atr)
    macd_hist_atr = _ratio(macd_hist, atr)

    values = {
        "close": last_close,
        "ema_fast": ema_fast,
        "ema_slow": ema_slow,
        "ema_spread_atr": ema_spread_atr,
        "rsi": rsi,
        "macd": macd,
        "macd_signal": macd_signal,
        "macd_hist": macd_hist,
        "macd_hist_atr": macd_hist_atr,
        "atr": atr,
        "atr_pct": 100.0 * atr / last_close,
        "volatility_ratio": volatility_ratio,
        "bb_percent_b": bb_percent_b,
        "volume_z": volume_z,
        "candle_direction": direction,
    }
    normalised = {
        "ema": math.tanh(ema_spread_atr / EMA_SCALE_ATR),
        "macd": math.tanh(macd_hist_atr / MACD_SCALE_ATR),
        "rsi": (rsi - 50.0) / 50.0,
        "bb": min(1.0, max(-1.0, 2.0 * bb_percent_b - 1.0)),
        "volume": math.tanh(volume_z / VOLUME_Z_SCALE) * direction,
        "atr": math.tanh(math.log(volatility_ratio)) if volatility_ratio > 0 else -1.0,
    }
    return Features(values=values, normalised=normalised, regime=classify_regime(values), candles=len(ohlcv))


def classify_regime(values: dict[str, float]) -> str:
    """high_volatility beats trend beats range; see the module docstring for the thresholds."""
    if values["volatility_ratio"] >= HIGH_VOLATILITY_RATIO:
        return REGIME_HIGH_VOLATILITY
    if abs(values["ema_spread_atr"]) >= TREND_SPREAD_ATR:
        return REGIME_TREND
    return REGIME_RANGE
