"""Policy: each rule, and the hysteresis between the thresholds."""

from __future__ import annotations

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from apps.signals.build import REGIME_HIGH_VOLATILITY, REGIME_RANGE, REGIME_TREND
from apps.signals.policy import Rule, Thresholds, apply_policy, describe_rule

T = Thresholds(entry=0.3, exit=-0.1)
REGIMES = [REGIME_TREND, REGIME_RANGE, REGIME_HIGH_VOLATILITY]


def decide(score, previous_action=None, regime=REGIME_TREND, thresholds=T):
    result = apply_policy(score=score, regime=regime, previous_action=previous_action, thresholds=thresholds)
    return result.action, result.rule


def test_flat_and_score_at_entry_buys():
    assert decide(0.3) == ("buy", Rule.SCORE_ABOVE_ENTRY)


def test_flat_after_a_sell_and_score_above_entry_buys():
    assert decide(0.9, "sell", REGIME_RANGE) == ("buy", Rule.SCORE_ABOVE_ENTRY)


def test_flat_and_high_volatility_holds_instead_of_entering():
    assert decide(0.9, None, REGIME_HIGH_VOLATILITY) == ("hold", Rule.REGIME_HIGH_VOL_HOLD)


def test_long_and_score_at_exit_sells():
    assert decide(-0.1, "buy") == ("sell", Rule.SCORE_BELOW_EXIT)


def test_long_sells_even_in_high_volatility():
    assert decide(-0.8, "buy", REGIME_HIGH_VOLATILITY) == ("sell", Rule.SCORE_BELOW_EXIT)


def test_long_and_score_above_entry_keeps_the_position():
    assert decide(0.8, "buy") == ("hold", Rule.IN_POSITION_HOLD)


def test_flat_and_score_below_exit_stays_out():
    assert decide(-0.8) == ("hold", Rule.FLAT_NO_ENTRY_HOLD)


@pytest.mark.parametrize("previous_action", [None, "buy", "sell"])
def test_score_between_the_thresholds_holds(previous_action):
    assert decide(0.1, previous_action) == ("hold", Rule.HYSTERESIS_HOLD)


def test_hold_is_not_a_stance():
    with pytest.raises(ValueError, match="previous_action"):
        decide(0.5, "hold")


@pytest.mark.parametrize(("entry", "exit_"), [(0.2, 0.2), (0.1, 0.3), (0.0, -0.5), (1.5, 0.0), (0.5, -1.5)])
def test_thresholds_must_be_ordered_and_in_range(entry, exit_):
    with pytest.raises(ValueError):
        Thresholds(entry=entry, exit=exit_)


def test_every_rule_has_a_sentence_with_its_numbers():
    for rule in Rule:
        text = describe_rule(rule, score=0.123, thresholds=T, stance="flat")
        assert "+0.123" in text


thresholds_st = st.tuples(st.floats(min_value=0.01, max_value=1.0), st.floats(min_value=-1.0, max_value=0.99)).filter(
    lambda t: t[1] < t[0]
)


@given(
    thresholds_st,
    st.floats(min_value=-1.0, max_value=1.0),
    st.sampled_from(REGIMES),
    st.sampled_from([None, "buy", "sell"]),
)
def test_a_score_between_the_thresholds_never_flips(bounds, score, regime, previous_action):
    entry, exit_ = bounds
    assume(exit_ < score < entry)
    action, rule = decide(score, previous_action, regime, Thresholds(entry=entry, exit=exit_))
    assert (action, rule) == ("hold", Rule.HYSTERESIS_HOLD)


@given(st.floats(min_value=-1.0, max_value=1.0), st.sampled_from(REGIMES), st.sampled_from([None, "buy", "sell"]))
def test_buys_only_when_flat_and_sells_only_when_long(score, regime, previous_action):
    action, _ = decide(score, previous_action, regime)
    if action == "buy":
        assert previous_action != "buy" and score >= T.entry and regime != REGIME_HIGH_VOLATILITY
    if action == "sell":
        assert previous_action == "buy" and score <= T.exit


@given(st.lists(st.floats(min_value=-1.0, max_value=1.0), min_size=1, max_size=60))
def test_a_sequence_of_decisions_alternates_buy_and_sell(scores):
    previous = None
    acted = []
    for score in scores:
        action, _ = decide(score, previous, REGIME_TREND)
        if action != "hold":
            acted.append(action)
            previous = action
    assert all(a != b for a, b in zip(acted, acted[1:], strict=False))
    assert not acted or acted[0] == "buy"
