"""Small pure pieces: argument parsing, Bot API URLs, alert keys and texts."""

from __future__ import annotations

import pytest

from apps.telegram_bot.alerts import alert_key, alert_text
from apps.telegram_bot.application import api_urls
from apps.telegram_bot.parsing import UsageError, eval_args, position_id, symbol_parse


@pytest.mark.parametrize("text", ["BTC/USDT", "btc/usdt", "BTC_USDT", "btc-usdt"])
def test_symbol_forms(text):
    assert symbol_parse(text) == "BTC/USDT"


def test_eval_defaults_come_from_settings(settings):
    settings.SYMBOLS = ("ETH/USDT",)
    settings.TIMEFRAME = "5m"
    assert eval_args([]) == ("ETH/USDT", "5m", None)
    assert eval_args(["btc_usdt", "1H", "300"]) == ("BTC/USDT", "1h", 300)


@pytest.mark.parametrize("args", [["0"], ["-3"], ["1", "2"], ["x"], []])
def test_position_id_rejects(args):
    with pytest.raises(UsageError):
        position_id(args)


@pytest.mark.parametrize(
    ("base", "expected"),
    [
        ("", ("https://api.telegram.org/bot", "https://api.telegram.org/file/bot")),
        ("http://127.0.0.1:8081/bot", ("http://127.0.0.1:8081/bot", "http://127.0.0.1:8081/file/bot")),
        ("http://127.0.0.1:8081/", ("http://127.0.0.1:8081/bot", "http://127.0.0.1:8081/file/bot")),
        ("http://h/bot{token}", ("http://h/bot{token}", "http://h/file/bot{token}")),
    ],
)
def test_api_urls(base, expected):
    assert api_urls(base) == expected


def test_alert_key_and_text():
    assert alert_key(kind="health_down", text="a", key="db") == "health_down:db"
    assert alert_key(kind="health_down", text="a", key=None) == alert_key(kind="health_down", text="a", key=None)
    assert alert_key(kind="health_down", text="a", key=None) != alert_key(kind="health_down", text="b", key=None)
    assert alert_text(kind="breaker_opened", text="gateio", severity="warning") == "⚠️ Circuit breaker opened\ngateio"
    assert alert_text(kind="custom_thing", text="x", severity="info") == "ℹ️ Custom thing\nx"
