"""decide(): the pure pipeline over random candle series."""

from __future__ import annotations

import math
from datetime import timedelta
from decimal import Decimal

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from apps.exchange.types import Candle
from apps.signals.build import REQUIRED_CANDLES, ohlcv_from_candles
from apps.signals.pipeline import decide
from apps.signals.policy import Thresholds
from tests.signals.factories import T0, random_walk, trend

WEIGHTS = {"ema": 0.3, "macd": 0.25, "rsi": 0.2, "bb": 0.15, "volume": 0.1}
THRESHOLDS = Thresholds(entry=0.3, exit=-0.1)


@st.composite
def candle_series(draw) -> list[Candle]:
    n = draw(st.integers(min_value=REQUIRED_CANDLES, max_value=120))
    price = draw(st.floats(min_value=0.001, max_value=100_000.0))
    moves = draw(st.lists(st.floats(min_value=-0.2, max_value=0.2), min_size=n, max_size=n))
    wicks = draw(st.lists(st.floats(min_value=0.0, max_value=0.05), min_size=n, max_size=n))
    volumes = draw(st.lists(st.floats(min_value=0.0, max_value=1e6), min_size=n, max_size=n))
    candles = []
    for i in range(n):
        open_ = price
        price = max(price * (1.0 + moves[i]), 1e-6)
        candles.append(
            Candle(
                time=T0 + timedelta(minutes=i),
                open=Decimal(repr(open_)),
                high=Decimal(repr(max(open_, price) * (1.0 + wicks[i]))),
                low=Decimal(repr(min(open_, price) / (1.0 + wicks[i]))),
                close=Decimal(repr(price)),
                volume=Decimal(repr(volumes[i])),
            )
        )
    return candles


weights_st = st.fixed_dictionaries({k: st.floats(min_value=-2.0, max_value=2.0) for k in WEIGHTS}).filter(
    lambda w: any(w.values())
)


@settings(max_examples=60, deadline=None)
@given(candle_series(), weights_st, st.sampled_from([None, "buy", "sell"]))
def test_score_is_in_range_and_contributions_add_up(candles, weights, previous_action):
    result = decide(candles, weights=weights, thresholds=THRESHOLDS, previous_action=previous_action)
    assert -1.0 <= result.score <= 1.0
    assert result.raw_score == math.fsum(result.contributions.values())
    assert abs(result.score - result.raw_score) <= 1e-12
    assert all(-1.0 <= v <= 1.0 for v in result.features.normalised.values())
    assert all(math.isfinite(v) for v in result.features.values.values())
    assert result.action in ("buy", "sell", "hold")


@settings(max_examples=40, deadline=None)
@given(candle_series(), st.sampled_from([None, "buy", "sell"]))
def test_decide_is_deterministic(candles, previous_action):
    first = decide(candles, weights=WEIGHTS, thresholds=THRESHOLDS, previous_action=previous_action)
    again = decide(list(candles), weights=dict(WEIGHTS), thresholds=THRESHOLDS, previous_action=previous_action)
    from_arrays = decide(
        ohlcv_from_candles(candles), weights=WEIGHTS, thresholds=THRESHOLDS, previous_action=previous_action
    )
    assert first == again
    assert first.features_json() == from_arrays.features_json()
    assert (first.action, first.rule, first.score) == (from_arrays.action, from_arrays.rule, from_arrays.score)


def test_a_steady_climb_buys_from_flat_and_a_steady_fall_sells_a_position():
    up = decide(trend(200, up=True), weights=WEIGHTS, thresholds=THRESHOLDS, previous_action=None)
    down = decide(trend(200, up=False), weights=WEIGHTS, thresholds=THRESHOLDS, previous_action="buy")
    assert (up.action, up.rule, up.regime) == ("buy", "score_above_entry", "trend")
    assert (down.action, down.rule) == ("sell", "score_below_exit")
    assert up.score > 0.3 > -0.1 > down.score


def test_features_json_is_plain_json():
    import json

    result = decide(random_walk(100), weights=WEIGHTS, thresholds=THRESHOLDS, previous_action=None)
    data = json.loads(json.dumps(result.features_json(), allow_nan=False))
    assert data["thresholds"] == {"entry": 0.3, "exit": -0.1}
    assert set(data["normalised"]) == {"ema", "macd", "rsi", "bb", "volume", "atr"}
    assert data["stance"] == "flat"


def test_decide_reads_no_clock_and_no_database():
    # Passing plain arrays proves nothing else is needed; the test has no db fixture.
    candles = random_walk(80)
    assert decide(ohlcv_from_candles(candles), weights=WEIGHTS, thresholds=THRESHOLDS, previous_action=None)
    assert np.isfinite(decide(candles, weights=WEIGHTS, thresholds=THRESHOLDS, previous_action="buy").score)


def test_unknown_weight_names_are_refused():
    with pytest.raises(ValueError, match="unknown signal features"):
        decide(random_walk(80), weights={"atr": 1.0}, thresholds=THRESHOLDS, previous_action=None)
