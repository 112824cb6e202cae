"""Settings are validated at start-up; a bad value names the variable and the accepted form."""

import subprocess
import sys
from datetime import time
from decimal import Decimal
from pathlib import Path

import pytest

from tradebot.config import ConfigError, load_config, parse_hours

ROOT = Path(__file__).resolve().parents[2]


def cfg(**env):
    return load_config({"SECRET_KEY": "x" * 50, **env})


def test_defaults_match_the_contract():
    c = cfg()
    assert c.MODE == "paper"
    assert c.ENABLE_TRADING is False
    assert c.SYMBOLS == ("BTC/USDT",)
    assert c.POSITION_SIZE_USD == Decimal("100")
    assert c.STOP_LOSS_PCT == Decimal("2.0") and c.TAKE_PROFIT_PCT == Decimal("4.0")
    assert c.DATABASE_URL == "sqlite:///data/tradebot.sqlite3"
    assert c.REDIS_URL == ""
    assert c.RECONCILE_INTERVAL_SEC == 60 and c.EXITS_CHECK_INTERVAL_SEC == 5


@pytest.mark.parametrize(
    "name,value",
    [
        ("MODE", "banana"),
        ("SYMBOLS", "BTCUSDT"),
        ("SYMBOLS", ""),
        ("RISK_HOURS_UTC", "25:00-26:00"),
        ("RISK_HOURS_UTC", "8-20"),
        ("STOP_LOSS_PCT", "-1"),
        ("STOP_LOSS_PCT", "abc"),
        ("TAKE_PROFIT_PCT", "0"),
        ("MAX_DRAWDOWN_PCT", "150"),
        ("MAX_DRAWDOWN_PCT", "NaN"),
        ("DATABASE_URL", "mysql://x"),
        ("REDIS_URL", "http://localhost"),
        ("POSITION_SIZE_USD", "0"),
        ("ENABLE_TRADING", "maybe"),
        ("LOG_FORMAT", "xml"),
    ],
)
def test_bad_value_names_the_variable_and_accepted_form(name, value):
    with pytest.raises(ConfigError) as info:
        cfg(**{name: value})
    assert info.value.variable == name
    assert name in str(info.value) and "expected" in str(info.value)


def test_symbol_is_accepted_for_symbols_and_deduplicated():
    assert cfg(SYMBOL="eth/usdt").SYMBOLS == ("ETH/USDT",)
    assert cfg(SYMBOLS="BTC/USDT, ETH/USDT,BTC/USDT").SYMBOLS == ("BTC/USDT", "ETH/USDT")


def test_db_path_is_used_when_database_url_is_unset():
    assert cfg(DB_PATH="/tmp/x.sqlite3").DATABASE_URL == "sqlite:////tmp/x.sqlite3"
    assert cfg(DB_PATH="/tmp/x.sqlite3", DATABASE_URL="postgres://u@h/db").DATABASE_URL == "postgres://u@h/db"


def test_live_trading_needs_credentials():
    with pytest.raises(ConfigError) as info:
        cfg(MODE="live", ENABLE_TRADING="true")
    assert info.value.variable == "GATEIO_API_KEY"


@pytest.mark.parametrize(
    "window,inside,outside",
    [
        ("00:00-24:00", [time(0, 0), time(23, 59)], []),
        ("08:00-20:00", [time(8, 0), time(19, 59)], [time(7, 59), time(20, 0)]),
        ("22:00-06:00", [time(23, 0), time(0, 0), time(5, 59)], [time(6, 0), time(12, 0), time(21, 59)]),
    ],
)
def test_trading_hours_window_may_wrap_midnight(window, inside, outside):
    w = parse_hours(window)
    assert all(w.contains(t) for t in inside)
    assert not any(w.contains(t) for t in outside)


def test_manage_py_check_stops_on_bad_mode_and_names_it():
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "MODE": "banana", "HOME": "/tmp"},
        timeout=60,
    )
    assert result.returncode != 0
    assert "MODE" in result.stderr and "paper, live, backtest" in result.stderr


@pytest.mark.parametrize("timeframe,seconds", [("1m", 60), ("15m", 900), ("4h", 14400), ("1d", 86400)])
def test_timeframe_seconds_is_the_candle_length(timeframe, seconds):
    from tradebot.config import timeframe_seconds

    assert timeframe_seconds(timeframe) == seconds


@pytest.mark.parametrize("bad", ["", "m", "0m", "5w", "1M ", "abc"])
def test_timeframe_seconds_refuses_what_is_not_a_timeframe(bad):
    from tradebot.config import timeframe_seconds

    with pytest.raises(ValueError, match="timeframe"):
        timeframe_seconds(bad)
