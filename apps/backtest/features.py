"""Every decision's features at once: what `build_features` returns on each window, for a whole series.

A backtest decides at every candle close on the last `window` candles, as live `evaluate` does. Computing
the features window by window costs eight tiny EMAs per candle; here every indicator is computed once over
the whole series and each window's value is recovered from it in closed form.

The recursive averages are linear, so a window's EMA seeded at its own first value differs from the
whole-series EMA E by a term that only depends on the window's first candle s and its length L:

    ema_window[s..t](t) = E[t] - w**(t-s) * (E[s] - x[s])              (w = 1 - alpha)

The same holds for Wilder's smoothing (seeded with the mean of the window's first `period` values), for the
MACD line (a difference of two such EMAs) and for its signal (an EMA9 of that line: the EMA9 of a geometric
sequence g**k has the closed form A * w9**k + B * g**k). Bollinger and volume statistics only look at the
last 20 candles and are the same in any window that holds them.

Exactness: the results equal `build_features` on the same window up to float rounding (the parity tests hold
scores to SCORE_TOLERANCE and actions / rules / regimes to equality). Windows shorter than `window` (the
start of a series) and degenerate windows (20 equal closes or volumes, a zero true range at the window's start)
are computed by `build_features` itself, so their values are the live ones bit for bit.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from apps.signals import build as b
from apps.signals.build import Ohlcv, build_features, ema, true_range
from tradebot.config import SIGNAL_FEATURES

SCORED = SIGNAL_FEATURES  # the normalised features a score can weigh (never "atr": it only feeds the regime)
# Scores from whole-series features differ from decide()'s by float rounding only (~1e-12 measured).
SCORE_TOLERANCE = 1e-9
_CACHE_ROWS = 8192  # float64 values per block of a multi-pass loop: a few of them fit a core's L2 cache
_ROWS_PER_CHUNK = 32_768  # rows of the (decisions x 50) ATR-median matrix held at once (~13 MB)


@dataclass
class SeriesFeatures:
    """Normalised features and regime inputs for the decision at each candle close (index = candle index).

    Rows before `first` (fewer than REQUIRED_CANDLES candles) hold NaN: no decision is made there. The ATR's
    median over its last 50 values (the volatility ratio) is only needed where an entry is possible, so it
    is computed on demand (`volatility_ratio(rows)`) from the ATR inputs kept here."""

    window: int
    first: int  # the first candle index with a decision (REQUIRED_CANDLES - 1)
    normalised: dict[str, np.ndarray]  # the scored names (ema, macd, rsi, bb, volume) -> float64 in [-1, 1]
    spread_atr: np.ndarray  # (EMA9 - EMA21) / ATR, for the regime
    atr: np.ndarray  # the window's ATR at its last candle
    atr_correction: np.ndarray  # window ATR at t = whole_atr[t] + decay(t) * atr_correction
    whole_atr: np.ndarray  # Wilder ATR of the whole series
    ratio: np.ndarray  # the volatility ratio where known (NaN where not computed yet)
    _floor: list[np.ndarray] = field(default_factory=list, repr=False, compare=False)  # see _atr_floor

    def volatility_ratio(self, rows: np.ndarray) -> np.ndarray:
        """ATR / median of the window's last 50 ATR values (1.0 when the ATR is 0), at candle indices `rows`."""
        rows = np.asarray(rows, dtype=np.int64)
        missing = rows[np.isnan(self.ratio[rows])]
        if missing.size:
            self.ratio[missing] = _volatility_ratio(self, missing)
        return self.ratio[rows]

    def high_volatility(self, rows: np.ndarray) -> np.ndarray:
        """classify_regime's `volatility_ratio >= 1.5` at candle indices `rows`.

        The median is the costly part, and most rows cannot reach the ratio: the median of the window's
        last ATR values is at least their minimum, so an ATR below 1.4 x a lower bound of that minimum
        (margin far beyond float rounding) is not high volatility. Only the other rows get the median."""
        rows = np.asarray(rows, dtype=np.int64)
        out = np.zeros(rows.shape[0], dtype=bool)
        floor = _atr_floor(self)[rows]
        atr = self.atr[rows]
        maybe = ~np.isnan(self.ratio[rows]) | ((atr > 0) & ((floor <= 0) | (atr >= 1.4 * floor)))
        out[maybe] = self.volatility_ratio(rows[maybe]) >= b.HIGH_VOLATILITY_RATIO
        return out

    def score(self, weights: Mapping[str, float]) -> np.ndarray:
        """`fuse`'s clipped score at every decision, for already validated weights."""
        total = math.fsum(abs(w) for w in weights.values())
        raw = np.zeros(self.spread_atr.shape[0])
        for name, weight in weights.items():
            if weight != 0.0:
                raw += weight * self.normalised[name] / total
        return np.clip(raw, -1.0, 1.0)

    def save(self, path) -> None:
        """One .npz file; written beside the cached history and shared by every combination of a sweep."""
        arrays: dict[str, Any] = {f"n_{k}": v for k, v in self.normalised.items()}  # (savez's typing: **kwds)
        fields = ("spread_atr", "atr", "atr_correction", "whole_atr", "ratio")
        np.savez(path, window=self.window, first=self.first, **arrays, **{f: getattr(self, f) for f in fields})

    @classmethod
    def load(cls, path) -> SeriesFeatures:
        with np.load(path) as data:
            names = [k[2:] for k in data.files if k.startswith("n_")]
            return cls(
                window=int(data["window"]),
                first=int(data["first"]),
                normalised={k: data[f"n_{k}"] for k in names},
                spread_atr=data["spread_atr"],
                atr=data["atr"],
                atr_correction=data["atr_correction"],
                whole_atr=data["whole_atr"],
                ratio=data["ratio"].copy(),
            )


def _shifted_sum(x: np.ndarray, n: int) -> np.ndarray:
    """out[i] = x[i] + ... + x[i+n-1] for i in 0..len-n: n vector additions, fast for a short n."""
    m = x.shape[0] - n + 1
    out = x[:m].copy()
    for lo in range(0, m, _CACHE_ROWS):  # a cache-sized block at a time, as in _mean_std
        hi = min(m, lo + _CACHE_ROWS)
        part = out[lo:hi]
        for k in range(1, n):
            part += x[lo + k : hi + k]
    return out


def _counts(flags: np.ndarray) -> np.ndarray:
    """c[i] = number of true flags before index i (c[0] = 0); window counts are exact differences."""
    out = np.zeros(flags.shape[0] + 1, dtype=np.int64)
    np.cumsum(flags, out=out[1:])
    return out


def _mean_std(x: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean and population standard deviation of every n consecutive values (two passes, as numpy's std)."""
    m = x.shape[0] - n + 1
    mean = _shifted_sum(x, n) / n
    square = np.zeros(m)
    d = np.empty(_CACHE_ROWS)  # one buffer for every term: no allocation per pass
    # The n passes run over a cache-sized block at a time (same operations in the same order per value).
    for lo in range(0, m, _CACHE_ROWS):
        hi = min(m, lo + _CACHE_ROWS)
        part, term, sq = mean[lo:hi], d[: hi - lo], square[lo:hi]
        for k in range(n):
            np.subtract(x[lo + k : hi + k], part, out=term)
            np.multiply(term, term, out=term)
            sq += term
    return mean, np.sqrt(square / n)


def _geometric_ema_end(g: float, alpha: float, steps: int) -> float:
    """z[steps] for z[0] = 1, z[k] = (1 - alpha) * z[k-1] + alpha * g**k: the EMA of g**k seeded at 1."""
    w = 1.0 - alpha
    if abs(g - w) < 1e-12:  # never with the project's periods; the limit of the closed form
        return w**steps + alpha * steps * w**steps
    big = alpha * g / (g - w)
    return (1.0 - big) * w**steps + big * g**steps


def series_features(ohlcv: Ohlcv, window: int) -> SeriesFeatures:
    """The features `build_features` gives on `ohlcv[max(0, j + 1 - window) : j + 1]`, for every candle j."""
    n = len(ohlcv)
    if window < b.REQUIRED_CANDLES:
        raise ValueError(f"window {window} is shorter than the {b.REQUIRED_CANDLES} candles a decision needs")
    nan = lambda: np.full(n, np.nan)  # noqa: E731
    out = SeriesFeatures(
        window=window,
        first=b.REQUIRED_CANDLES - 1,
        normalised={k: nan() for k in SCORED},
        spread_atr=nan(),
        atr=nan(),
        atr_correction=nan(),
        whole_atr=ema(true_range(ohlcv.high.copy(), ohlcv.low, ohlcv.close), 1.0 / b.ATR_PERIOD),
        ratio=nan(),
    )
    # The start of the series (windows shorter than `window`): the live function itself.
    for j in range(out.first, min(n, window - 1)):
        _store_live(out, ohlcv, j)
    if n >= window:
        _full_windows(out, ohlcv, window)
    return out


def _store_live(out: SeriesFeatures, ohlcv: Ohlcv, j: int) -> None:
    start = max(0, j + 1 - out.window)
    view = Ohlcv(*(column[start : j + 1] for column in (ohlcv.open, ohlcv.high, ohlcv.low, ohlcv.close, ohlcv.volume)))
    features = build_features(view)
    for name in SCORED:
        out.normalised[name][j] = features.normalised[name]
    out.spread_atr[j] = features.values["ema_spread_atr"]
    out.atr[j] = features.values["atr"]
    out.ratio[j] = features.values["volatility_ratio"]


def _atr_matrix(out: SeriesFeatures, rows: np.ndarray) -> np.ndarray:
    """The window ATR's last min(50, window - 13) values for each full-window decision in `rows`."""
    w_len, pa = out.window, b.ATR_PERIOD
    last = w_len - 1
    count = min(b.VOLATILITY_LOOKBACK, w_len - (pa - 1))
    exponents = np.arange(last - (pa - 1) - count + 1, last - (pa - 1) + 1, dtype=np.float64)
    decay = (1.0 - 1.0 / pa) ** exponents
    recent = np.lib.stride_tricks.sliding_window_view(out.whole_atr, count)  # row i: whole_atr[i .. i+count-1]
    return recent[rows - count + 1] + out.atr_correction[rows, None] * decay[None, :]


def _atr_floor(out: SeriesFeatures) -> np.ndarray:
    """A lower bound of every value in each full-window row of `_atr_matrix` (NaN before the first full
    window): the sliding minimum of the whole-series ATR, less the largest correction term."""
    if not out._floor:
        w_len, pa = out.window, b.ATR_PERIOD
        count = min(b.VOLATILITY_LOOKBACK, w_len - (pa - 1))
        low = out.whole_atr.copy()  # low[i] = min(whole_atr[i - span + 1 .. i]), span doubling up to count
        span = 1
        while span < count:
            step = min(span, count - span)
            low[step:] = np.minimum(low[step:], low[:-step])
            span += step
        largest = (1.0 - 1.0 / pa) ** (w_len - 1 - (pa - 1) - count + 1)  # the oldest value's decay
        floor = np.full(low.shape[0], np.nan)
        with np.errstate(invalid="ignore"):
            floor[:] = low - np.abs(out.atr_correction) * largest
        out._floor.append(floor)
    return out._floor[0]


def _volatility_ratio(out: SeriesFeatures, rows: np.ndarray) -> np.ndarray:
    """Full-window rows only (the others are stored by `_store_live`)."""
    result = np.empty(rows.shape[0])
    for lo in range(0, rows.shape[0], _ROWS_PER_CHUNK):
        chunk = rows[lo : lo + _ROWS_PER_CHUNK]
        usual = np.median(_atr_matrix(out, chunk), axis=1)
        atr = out.atr[chunk]
        with np.errstate(divide="ignore", invalid="ignore"):
            result[lo : lo + chunk.shape[0]] = np.where(atr > 0, np.where(usual > 0, atr / usual, 0.0), 1.0)
    return result


def _full_windows(out: SeriesFeatures, ohlcv: Ohlcv, window: int) -> None:
    """Decisions j = window-1 .. n-1, each on candles s = j-window+1 .. j (all of one length)."""
    close, high, low, open_, volume = ohlcv.close, ohlcv.high, ohlcv.low, ohlcv.open, ohlcv.volume
    n, w_len = close.shape[0], window
    j = slice(w_len - 1, n)
    s = slice(0, n - w_len + 1)
    last = w_len - 1  # steps from a window's first candle to its last
    cs, cj = close[s], close[j]

    a9, a12, a26 = (2.0 / (p + 1) for p in (b.MACD_SIGNAL, b.MACD_FAST, b.MACD_SLOW))
    e_fast, e_slow = ema(close, 2.0 / (b.EMA_FAST + 1)), ema(close, 2.0 / (b.EMA_SLOW + 1))
    w_fast, w_slow = 1.0 - 2.0 / (b.EMA_FAST + 1), 1.0 - 2.0 / (b.EMA_SLOW + 1)
    ema_fast = e_fast[j] - w_fast**last * (e_fast[s] - cs)
    ema_slow = e_slow[j] - w_slow**last * (e_slow[s] - cs)

    # MACD line and its EMA9 signal, through the closed form of the window corrections.
    e12, e26 = ema(close, a12), ema(close, a26)
    d12, d26 = e12[s] - cs, e26[s] - cs
    g12, g26 = 1.0 - a12, 1.0 - a26
    whole_line = e12 - e26
    macd = whole_line[j] - g12**last * d12 + g26**last * d26
    whole_signal = ema(whole_line, a9)
    signal = (
        whole_signal[j]
        - (1.0 - a9) ** last * (whole_signal[s] - whole_line[s])
        - d12 * _geometric_ema_end(g12, a9, last)
        + d26 * _geometric_ema_end(g26, a9, last)
    )
    hist = macd - signal

    # RSI: Wilder over the window's close-to-close changes, seeded with the mean of its first RSI_PERIOD.
    p = b.RSI_PERIOD
    change = np.diff(close)  # change[k - 1] = close[k] - close[k - 1]
    m = n - w_len + 1  # full windows

    def windowed_wilder(x: np.ndarray) -> np.ndarray:
        whole = ema(x, 1.0 / p)
        seed = _shifted_sum(x, p)[:m] / p  # the changes into candles s+1 .. s+p
        return whole[w_len - 2 :] + (1.0 - 1.0 / p) ** (last - p) * (seed - whole[p - 1 : p - 1 + m])

    avg_gain = windowed_wilder(np.maximum(change, 0.0))
    avg_loss = windowed_wilder(np.maximum(-change, 0.0))
    gains, losses = _counts(change > 0), _counts(change < 0)  # exact zero when a window has none
    avg_gain[(gains[last : last + m] - gains[:m]) == 0] = 0.0
    avg_loss[(losses[last : last + m] - losses[:m]) == 0] = 0.0
    with np.errstate(divide="ignore", invalid="ignore"):
        rsi = np.where(avg_loss > 0, 100.0 - 100.0 / (1.0 + avg_gain / avg_loss), np.where(avg_gain > 0, 100.0, 50.0))

    # ATR: Wilder over the window's true range, whose first value is that candle's high - low.
    pa = b.ATR_PERIOD
    tr = true_range(high.copy(), low, close)
    whole_atr = out.whole_atr
    first_range = high[s] - low[s]
    seed = (_shifted_sum(tr, pa)[:m] - tr[s] + first_range) / pa
    correction = seed - whole_atr[pa - 1 : pa - 1 + m]
    atr = whole_atr[j] + (1.0 - 1.0 / pa) ** (last - (pa - 1)) * correction
    with np.errstate(divide="ignore", invalid="ignore"):
        spread = np.where(atr > 0, (ema_fast - ema_slow) / atr, 0.0)
        hist_atr = np.where(atr > 0, hist / atr, 0.0)

    # Bollinger %B and the volume z-score over the last 20 candles (population standard deviations).
    mid, std = _mean_std(close, b.BB_PERIOD)
    mid, std = mid[w_len - b.BB_PERIOD :], std[w_len - b.BB_PERIOD :]
    width = 2.0 * b.BB_STDDEV * std
    with np.errstate(divide="ignore", invalid="ignore"):
        percent_b = np.where(width > 0, (cj - (mid - b.BB_STDDEV * std)) / width, 0.5)
    vmean, vstd = _mean_std(volume, b.VOLUME_PERIOD)
    vmean, vstd = vmean[w_len - b.VOLUME_PERIOD :], vstd[w_len - b.VOLUME_PERIOD :]
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(vstd > 0, (volume[j] - vmean) / vstd, 0.0)
    direction = np.sign(cj - open_[j])

    out.normalised["ema"][j] = np.tanh(spread / b.EMA_SCALE_ATR)
    out.normalised["macd"][j] = np.tanh(hist_atr / b.MACD_SCALE_ATR)
    out.normalised["rsi"][j] = (rsi - 50.0) / 50.0
    out.normalised["bb"][j] = np.clip(2.0 * percent_b - 1.0, -1.0, 1.0)
    out.normalised["volume"][j] = np.tanh(z / b.VOLUME_Z_SCALE) * direction
    out.spread_atr[j] = spread
    out.atr[j] = atr
    out.atr_correction[j] = correction

    # Windows where float rounding cannot stand in for an exact zero: the live function decides them.
    moves = _counts(np.diff(close) != 0)  # 20 equal closes: no move among their 19 changes
    vmoves = _counts(np.diff(volume) != 0)
    k20 = b.BB_PERIOD - 1
    flat = (moves[last : last + m] - moves[last - k20 : last - k20 + m]) == 0
    flat |= (vmoves[last : last + m] - vmoves[last - k20 : last - k20 + m]) == 0
    flat |= first_range == 0  # the window's ATR may be exactly 0 somewhere in the median's span
    for k in np.flatnonzero(flat):
        _store_live(out, ohlcv, int(k + last))
