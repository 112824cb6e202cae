"""Fusion: the documented relation between weights, features, contributions and score."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from apps.signals.fusion import fuse, validate_weights
from tradebot.config import SIGNAL_FEATURES

unit = st.floats(min_value=-1.0, max_value=1.0, allow_nan=False)
normalised_st = st.fixed_dictionaries({name: unit for name in SIGNAL_FEATURES})
weights_st = st.fixed_dictionaries(
    {name: st.floats(min_value=-10.0, max_value=10.0, allow_nan=False) for name in SIGNAL_FEATURES}
).filter(lambda w: any(w.values()))


def test_contributions_are_weight_times_value_over_the_sum_of_absolute_weights():
    fusion = fuse(
        {"ema": 1.0, "rsi": -0.5, "macd": 0.2, "bb": 0.0, "volume": 1.0},
        {"ema": 0.5, "rsi": 0.25, "macd": -0.25},
    )
    assert fusion.contributions == pytest.approx({"ema": 0.5, "rsi": -0.125, "macd": -0.05, "bb": 0.0, "volume": 0.0})
    assert fusion.score == pytest.approx(0.325)
    assert fusion.weight_total == 1.0


def test_all_features_at_their_extreme_give_the_extreme_score():
    assert fuse(dict.fromkeys(SIGNAL_FEATURES, 1.0), {"ema": 3, "rsi": 1}).score == 1.0
    assert fuse(dict.fromkeys(SIGNAL_FEATURES, -1.0), {"ema": 3, "rsi": 1}).score == -1.0


@pytest.mark.parametrize(
    "weights", [{"atr": 1.0}, {"ema": float("nan")}, {"ema": 0.0}, {"ema": 1.0, "momentum": 0.2}, {}]
)
def test_bad_weights_are_refused(weights):
    with pytest.raises(ValueError):
        validate_weights(weights)


def test_a_normalised_value_outside_the_unit_range_is_refused():
    with pytest.raises(ValueError, match="outside"):
        fuse({"ema": 1.5}, {"ema": 1.0})


@given(normalised_st, weights_st)
def test_score_is_always_within_minus_one_and_one(normalised, weights):
    assert -1.0 <= fuse(normalised, weights).score <= 1.0


@given(normalised_st, weights_st)
def test_contributions_sum_to_the_score_before_clipping(normalised, weights):
    fusion = fuse(normalised, weights)
    assert fusion.raw_score == math.fsum(fusion.contributions.values())
    assert fusion.score == max(-1.0, min(1.0, fusion.raw_score))
    assert abs(fusion.score - fusion.raw_score) <= 1e-12
    for name, contribution in fusion.contributions.items():
        assert contribution == pytest.approx(weights[name] * normalised[name] / fusion.weight_total, abs=1e-15)


@given(normalised_st, weights_st, st.floats(min_value=0.01, max_value=100.0))
def test_scaling_every_weight_leaves_the_score_unchanged(normalised, weights, factor):
    scaled = {k: v * factor for k, v in weights.items()}
    assert fuse(normalised, scaled).score == pytest.approx(fuse(normalised, weights).score, abs=1e-9)
