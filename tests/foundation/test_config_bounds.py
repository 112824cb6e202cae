"""Issue 11, Deliver 8 (bounds): settings that would be accepted and then do harm stop the start, naming the
variable: a short SECRET_KEY in live, a stop-loss of 100% (a stop at price 0), a drawdown limit of 100%."""

import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from tradebot.config import LIVE_SECRET_KEY_MIN, ConfigError, load_config

ROOT = Path(__file__).resolve().parents[2]
LONG_KEY = "k" * LIVE_SECRET_KEY_MIN


@pytest.mark.parametrize("key", ["", "short", "x" * (LIVE_SECRET_KEY_MIN - 1)])
def test_live_mode_refuses_a_secret_key_under_50_characters(key):
    with pytest.raises(ConfigError) as info:
        load_config({"MODE": "live", "SECRET_KEY": key})
    assert info.value.variable == "SECRET_KEY"
    assert "at least 50 characters" in str(info.value) and "MODE=live" in str(info.value)
    assert key not in info.value.value or not key  # the key itself is never echoed, only its length


def test_live_mode_refuses_a_short_key_even_with_debug():
    with pytest.raises(ConfigError):
        load_config({"MODE": "live", "DEBUG": "true", "SECRET_KEY": "short"})


def test_live_mode_accepts_a_50_character_key_and_paper_any_key():
    assert load_config({"MODE": "live", "SECRET_KEY": LONG_KEY}).SECRET_KEY == LONG_KEY
    assert load_config({"MODE": "paper", "SECRET_KEY": "short"}).SECRET_KEY == "short"
    assert len(load_config({"MODE": "paper"}).SECRET_KEY) >= LIVE_SECRET_KEY_MIN  # the generated dev key


@pytest.mark.parametrize(
    "name,value",
    [
        ("STOP_LOSS_PCT", "0"),
        ("STOP_LOSS_PCT", "50"),
        ("STOP_LOSS_PCT", "100"),
        ("STOP_LOSS_PCT", "-2"),
        ("TAKE_PROFIT_PCT", "0"),
        ("TAKE_PROFIT_PCT", "-1"),
        ("MAX_DRAWDOWN_PCT", "0"),
        ("MAX_DRAWDOWN_PCT", "100"),
        ("MAX_DRAWDOWN_PCT", "Infinity"),
    ],
)
def test_percentages_out_of_bounds_name_the_variable_and_the_range(name, value):
    with pytest.raises(ConfigError) as info:
        load_config({"SECRET_KEY": LONG_KEY, name: value})
    assert info.value.variable == name and info.value.value == value
    assert "greater than 0" in str(info.value)


def test_percentages_inside_the_bounds_are_kept_as_decimals():
    c = load_config(
        {"SECRET_KEY": LONG_KEY, "STOP_LOSS_PCT": "49.9", "TAKE_PROFIT_PCT": "250", "MAX_DRAWDOWN_PCT": "99.5"}
    )
    assert (c.STOP_LOSS_PCT, c.TAKE_PROFIT_PCT, c.MAX_DRAWDOWN_PCT) == (
        Decimal("49.9"),
        Decimal("250"),
        Decimal("99.5"),
    )


def test_manage_py_refuses_to_start_live_with_a_short_secret_key():
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "HOME": "/tmp", "MODE": "live", "SECRET_KEY": "short"},
        timeout=120,
    )
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr and "50 characters" in result.stderr
