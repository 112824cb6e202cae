"""Feature values against plain-loop reference implementations, on fixed data."""

from __future__ import annotations

import math
from datetime import timedelta
from decimal import Decimal

import numpy as np
import pytest

from apps.exchange.types import Candle
from apps.signals.build import (
    REGIME_HIGH_VOLATILITY,
    REGIME_RANGE,
    REGIME_TREND,
    REQUIRED_CANDLES,
    FeatureInputError,
    build_features,
    classify_regime,
    ema,
    ohlcv_from_candles,
    wilder,
)
from tests.signals.factories import T0, random_walk, trend

STEP = timedelta(minutes=1)

# --- references: the textbook recurrences, one candle at a time ----------------------------------


def ref_ema_alpha(xs: list[float], alpha: float) -> list[float]:
    out = [xs[0]]
    for x in xs[1:]:
        out.append(out[-1] + alpha * (x - out[-1]))
    return out


def ref_ema(xs: list[float], period: int) -> list[float]:
    return ref_ema_alpha(xs, 2.0 / (period + 1))


def ref_wilder(xs: list[float], period: int) -> list[float]:
    out = [math.nan] * (period - 1) + [sum(xs[:period]) / period]
    for x in xs[period:]:
        out.append(out[-1] + (x - out[-1]) / period)
    return out


def ref_rsi(closes: list[float], period: int = 14) -> float:
    gains, losses = [], []
    for prev, cur in zip(closes, closes[1:], strict=False):
        gains.append(max(cur - prev, 0.0))
        losses.append(max(prev - cur, 0.0))
    avg_gain = ref_wilder(gains, period)[-1]
    avg_loss = ref_wilder(losses, period)[-1]
    if avg_loss == 0:
        return 100.0 if avg_gain > 0 else 50.0
    return 100.0 - 100.0 / (1.0 + avg_gain / avg_loss)


def ref_atr(highs: list[float], lows: list[float], closes: list[float], period: int = 14) -> list[float]:
    trs = [highs[0] - lows[0]]
    for i in range(1, len(closes)):
        trs.append(max(highs[i] - lows[i], abs(highs[i] - closes[i - 1]), abs(lows[i] - closes[i - 1])))
    return ref_wilder(trs, period)


def ref_zscore_last(xs: list[float], period: int) -> tuple[float, float, float]:
    window = xs[-period:]
    mean = sum(window) / period
    sd = math.sqrt(sum((x - mean) ** 2 for x in window) / period)
    return window[-1], mean, sd


def columns(candles):
    return (
        [float(c.open) for c in candles],
        [float(c.high) for c in candles],
        [float(c.low) for c in candles],
        [float(c.close) for c in candles],
        [float(c.volume) for c in candles],
    )


CANDLES = random_walk(300, seed=11)


# --- the vectorised averages -----------------------------------------------------------------------


@pytest.mark.parametrize("period", [2, 9, 21, 26, 200])
def test_ema_matches_the_recurrence(period):
    closes = columns(CANDLES)[3]
    assert ema(np.array(closes), 2.0 / (period + 1)) == pytest.approx(ref_ema(closes, period), rel=1e-10)


def test_ema_matches_the_recurrence_on_a_long_series_that_crosses_zero():
    xs = [math.sin(i / 7.0) * 50 + (i % 13) - 6 for i in range(5000)]  # several closed-form blocks
    got = ema(np.array(xs), 1.0 / 14)
    assert np.allclose(got, ref_ema_alpha(xs, 1.0 / 14), rtol=0, atol=1e-9)


def test_wilder_is_nan_before_its_seed_and_matches_the_recurrence_after():
    xs = columns(CANDLES)[4]
    got = wilder(np.array(xs), 14)
    want = ref_wilder(xs, 14)
    assert np.isnan(got[:13]).all()
    assert got[13:] == pytest.approx(want[13:], rel=1e-10)


# --- each feature ----------------------------------------------------------------------------------


def test_feature_values_match_the_references():
    opens, highs, lows, closes, volumes = columns(CANDLES)
    values = build_features(CANDLES).values

    assert values["ema_fast"] == pytest.approx(ref_ema(closes, 9)[-1], rel=1e-10)
    assert values["ema_slow"] == pytest.approx(ref_ema(closes, 21)[-1], rel=1e-10)
    assert values["rsi"] == pytest.approx(ref_rsi(closes), rel=1e-9)

    line = [f - s for f, s in zip(ref_ema(closes, 12), ref_ema(closes, 26), strict=True)]
    signal = ref_ema(line, 9)
    assert values["macd"] == pytest.approx(line[-1], rel=1e-8)
    assert values["macd_signal"] == pytest.approx(signal[-1], rel=1e-8)
    assert values["macd_hist"] == pytest.approx(line[-1] - signal[-1], rel=1e-7, abs=1e-12)

    atr = ref_atr(highs, lows, closes)
    assert values["atr"] == pytest.approx(atr[-1], rel=1e-10)
    assert values["atr_pct"] == pytest.approx(100 * atr[-1] / closes[-1], rel=1e-10)
    usual = sorted(atr[13:][-50:])
    median = (usual[24] + usual[25]) / 2
    assert values["volatility_ratio"] == pytest.approx(atr[-1] / median, rel=1e-10)

    last, mean, sd = ref_zscore_last(closes, 20)
    assert values["bb_percent_b"] == pytest.approx((last - (mean - 2 * sd)) / (4 * sd), rel=1e-9)
    last_v, mean_v, sd_v = ref_zscore_last(volumes, 20)
    assert values["volume_z"] == pytest.approx((last_v - mean_v) / sd_v, rel=1e-9)
    assert values["ema_spread_atr"] == pytest.approx((values["ema_fast"] - values["ema_slow"]) / atr[-1], rel=1e-9)


def test_normalised_features_follow_their_documented_formulas_and_stay_in_range():
    features = build_features(CANDLES)
    v, n = features.values, features.normalised
    assert n["ema"] == pytest.approx(math.tanh(v["ema_spread_atr"]))
    assert n["macd"] == pytest.approx(math.tanh(v["macd_hist_atr"] / 0.5))
    assert n["rsi"] == pytest.approx((v["rsi"] - 50) / 50)
    assert n["bb"] == pytest.approx(max(-1.0, min(1.0, 2 * v["bb_percent_b"] - 1)))
    assert n["volume"] == pytest.approx(math.tanh(v["volume_z"] / 2) * v["candle_direction"])
    assert n["atr"] == pytest.approx(math.tanh(math.log(v["volatility_ratio"])))
    assert all(-1.0 <= x <= 1.0 for x in n.values())


def test_rsi_of_a_series_that_only_rises_is_100():
    candles = [
        Candle(T0 + i * STEP, Decimal(100 + i), Decimal(101 + i), Decimal(99 + i), Decimal(100 + i), Decimal(1))
        for i in range(60)
    ]
    assert build_features(candles).values["rsi"] == 100.0


def test_flat_market_gives_neutral_features_without_dividing_by_zero():
    flat = [c.__class__(c.time, Decimal(10), Decimal(10), Decimal(10), Decimal(10), Decimal(5)) for c in CANDLES[:60]]
    features = build_features(flat)
    assert features.values["rsi"] == 50.0
    assert features.values["bb_percent_b"] == 0.5
    assert features.values["volume_z"] == 0.0
    assert features.normalised == {"ema": 0.0, "macd": 0.0, "rsi": 0.0, "bb": 0.0, "volume": 0.0, "atr": 0.0}
    assert features.regime == REGIME_RANGE


# --- regime ----------------------------------------------------------------------------------------


def test_regime_is_trend_on_a_steady_climb():
    assert build_features(trend(200)).regime == REGIME_TREND


def test_regime_is_high_volatility_when_the_range_explodes():
    candles = random_walk(150, seed=5, vol=0.002)
    for i in range(140, 150):  # the last ten candles swing ten times wider
        c = candles[i]
        candles[i] = Candle(c.time, c.open, c.high * Decimal("1.02"), c.low * Decimal("0.98"), c.close, c.volume)
    assert build_features(candles).regime == REGIME_HIGH_VOLATILITY


@pytest.mark.parametrize(
    ("ratio", "spread", "regime"),
    [
        (1.5, 0.0, REGIME_HIGH_VOLATILITY),
        (1.49, 1.0, REGIME_TREND),
        (1.0, -1.2, REGIME_TREND),
        (1.0, 0.99, REGIME_RANGE),
    ],
)
def test_classify_regime_thresholds(ratio, spread, regime):
    assert classify_regime({"volatility_ratio": ratio, "ema_spread_atr": spread}) == regime


# --- validation ------------------------------------------------------------------------------------


def test_too_few_candles_is_a_clear_error():
    with pytest.raises(FeatureInputError, match=f"needs {REQUIRED_CANDLES}"):
        build_features(CANDLES[: REQUIRED_CANDLES - 1])


def test_exactly_enough_candles_is_fine():
    assert build_features(CANDLES[:REQUIRED_CANDLES]).candles == REQUIRED_CANDLES


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("close", Decimal("NaN"), "NaN or infinite"),
        ("high", Decimal("Infinity"), "NaN or infinite"),
        ("low", Decimal("0"), "greater than 0"),
        ("volume", Decimal("-1"), "negative"),
    ],
)
def test_bad_numbers_are_a_clear_error(field, value, message):
    candles = list(CANDLES[:60])
    c = candles[30]
    parts = {"open": c.open, "high": c.high, "low": c.low, "close": c.close, "volume": c.volume, field: value}
    candles[30] = c.__class__(time=c.time, **parts)
    with pytest.raises(FeatureInputError, match=message):
        build_features(candles)


def test_high_below_low_is_a_clear_error():
    candles = list(CANDLES[:60])
    c = candles[10]
    candles[10] = c.__class__(c.time, c.open, c.low, c.high, c.close, c.volume)
    with pytest.raises(FeatureInputError, match="high below its low"):
        ohlcv_from_candles(candles)
