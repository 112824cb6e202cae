"""SIGNAL_WEIGHTS, SIGNAL_ENTRY_THRESHOLD and SIGNAL_EXIT_THRESHOLD: parsed, validated, named in errors."""

from __future__ import annotations

import pytest

from tradebot.config import ConfigError, load_config


def test_defaults_weigh_every_feature_and_order_the_thresholds():
    config = load_config({})
    assert config.SIGNAL_WEIGHTS == {"ema": 0.30, "rsi": 0.20, "macd": 0.25, "bb": 0.15, "volume": 0.10}
    assert config.SIGNAL_ENTRY_THRESHOLD == 0.30
    assert config.SIGNAL_EXIT_THRESHOLD == -0.10


def test_weights_not_named_weigh_zero_and_names_are_case_insensitive():
    config = load_config({"SIGNAL_WEIGHTS": " EMA=1 , rsi=-0.5"})
    assert config.SIGNAL_WEIGHTS == {"ema": 1.0, "rsi": -0.5, "macd": 0.0, "bb": 0.0, "volume": 0.0}


@pytest.mark.parametrize(
    "value", ["ema=0.3,atr=0.1", "ema=high", "ema", "ema=0.3,ema=0.2", "ema=0,rsi=0", "ema=inf", ""]
)
def test_bad_weights_name_the_variable(value):
    with pytest.raises(ConfigError, match="SIGNAL_WEIGHTS") as info:
        load_config({"SIGNAL_WEIGHTS": value})
    assert "ema, rsi, macd, bb, volume" in info.value.accepted


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"SIGNAL_ENTRY_THRESHOLD": "0"}, "SIGNAL_ENTRY_THRESHOLD"),
        ({"SIGNAL_ENTRY_THRESHOLD": "1.5"}, "SIGNAL_ENTRY_THRESHOLD"),
        ({"SIGNAL_ENTRY_THRESHOLD": "abc"}, "SIGNAL_ENTRY_THRESHOLD"),
        ({"SIGNAL_EXIT_THRESHOLD": "-2"}, "SIGNAL_EXIT_THRESHOLD"),
        ({"SIGNAL_EXIT_THRESHOLD": "nan"}, "SIGNAL_EXIT_THRESHOLD"),
        ({"SIGNAL_EXIT_THRESHOLD": "0.3"}, "SIGNAL_EXIT_THRESHOLD"),
        ({"SIGNAL_ENTRY_THRESHOLD": "0.2", "SIGNAL_EXIT_THRESHOLD": "0.25"}, "SIGNAL_EXIT_THRESHOLD"),
    ],
)
def test_bad_thresholds_name_the_variable(env, variable):
    with pytest.raises(ConfigError) as info:
        load_config(env)
    assert info.value.variable == variable
