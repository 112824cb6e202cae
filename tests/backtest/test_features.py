"""Whole-series features (apps.backtest.features) against `build_features` on each decision's own window:
the closed form of the window's EMA / Wilder seeds must give the live values, up to float rounding."""

from __future__ import annotations

import numpy as np
import pytest

from apps.backtest.features import SCORED, series_features
from apps.signals.build import Ohlcv, build_features, ohlcv_from_arrays

TOLERANCE = 1e-9  # on normalised features in [-1, 1]; measured differences are ~1e-13


def market(n: int, *, seed: int, flat_stretches: bool = False) -> Ohlcv:
    rng = np.random.default_rng(seed)
    close = np.round(50000 * np.exp(np.cumsum(rng.normal(0, 0.002, n))), 1)
    open_ = np.r_[close[0], close[:-1]]
    high = np.round(np.maximum(open_, close) * (1 + rng.uniform(0, 0.002, n)), 1)
    low = np.round(np.minimum(open_, close) * (1 - rng.uniform(0, 0.002, n)), 1)
    volume = np.round(rng.uniform(1, 9, n), 4)
    if flat_stretches:  # a market that does not trade for a while: equal prices, zero ranges
        for at in rng.integers(0, n - 60, n // 400):
            close[at : at + 40] = open_[at : at + 40] = high[at : at + 40] = low[at : at + 40] = close[at]
            volume[at : at + 40] = 0.0
    return ohlcv_from_arrays(open_, high, low, close, volume)


def window_of(ohlcv: Ohlcv, j: int, window: int) -> Ohlcv:
    start = max(0, j + 1 - window)
    return Ohlcv(*(c[start : j + 1] for c in (ohlcv.open, ohlcv.high, ohlcv.low, ohlcv.close, ohlcv.volume)))


@pytest.mark.parametrize(("window", "flat"), [(200, False), (60, False), (35, False), (120, True), (1000, False)])
def test_every_sampled_window_has_the_live_features(window, flat):
    ohlcv = market(6000, seed=window, flat_stretches=flat)
    features = series_features(ohlcv, window)
    rng = np.random.default_rng(1)
    rows = sorted({*range(34, 34 + 3 * window, 7), *rng.integers(34, len(ohlcv), 250).tolist()})
    ratios = features.volatility_ratio(np.array(rows))
    for j, ratio in zip(rows, ratios, strict=True):
        live = build_features(window_of(ohlcv, j, window))
        for name in SCORED:
            assert abs(features.normalised[name][j] - live.normalised[name]) <= TOLERANCE, (j, name)
        assert abs(features.spread_atr[j] - live.values["ema_spread_atr"]) <= TOLERANCE, j
        assert abs(ratio - live.values["volatility_ratio"]) <= TOLERANCE, j


def test_no_decision_before_the_longest_feature_window():
    features = series_features(market(300, seed=3), 200)
    assert np.isnan(features.normalised["ema"][: features.first]).all()
    assert not np.isnan(features.normalised["ema"][features.first :]).any()


def test_features_survive_a_round_trip_through_their_file(tmp_path):
    features = series_features(market(2000, seed=4), 100)
    features.volatility_ratio(np.arange(500, 600))
    features.save(tmp_path / "f.npz")
    loaded = type(features).load(tmp_path / "f.npz")
    weights = {"ema": 1.0, "rsi": 0.5, "macd": 1.0, "bb": 0.25, "volume": 0.25}
    assert np.array_equal(loaded.score(weights), features.score(weights), equal_nan=True)
    assert np.array_equal(loaded.volatility_ratio(np.arange(400, 700)), features.volatility_ratio(np.arange(400, 700)))
