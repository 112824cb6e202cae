"""Every read-only command, answered through the real PTB Application and the fake Bot API."""

from __future__ import annotations

from io import BytesIO

import pytest

from tests.telegram.conftest import OPERATOR_CHAT, READER_CHAT, exit_armed, message, position_closed, position_open

pytestmark = pytest.mark.django_db(transaction=True)


def test_help_lists_every_command(tg, feed):
    feed(message("/help"))
    [reply] = tg.sent("sendMessage")
    assert reply.params["chat_id"] == OPERATOR_CHAT
    for name in (
        "status",
        "health",
        "eval",
        "why",
        "profit",
        "positions",
        "test",
        "metrics",
        "exits",
        "pause",
        "resume",
        "close",
    ):
        assert f"/{name}" in reply.params["text"]


def test_status_shows_the_trading_gate_and_the_book(tg, feed, settings):
    settings.ENABLE_TRADING = False
    position_open()
    feed(message("/status", chat_id=READER_CHAT))
    [text] = tg.texts()
    assert "entries blocked: ENABLE_TRADING is false" in text
    assert f"open positions 1/{settings.MAX_POSITIONS}" in text


def test_health_lists_every_component(tg, feed):
    feed(message("/health"))
    [text] = tg.texts()
    assert "overall:" in text
    assert "database: ok" in text


def test_positions_show_amount_exit_and_unrealized_pnl(tg, feed, sim_exchange):
    position = position_open(amount="0.01", entry="49000")
    exit_armed(position)
    feed(message("/positions BTC/USDT"))
    [text] = tg.texts()
    assert f"#{position.pk} BTC/USDT 0.01 @ 49000" in text
    assert "exit armed: SL 48020 / TP 50960" in text
    assert "uPnL" in text


def test_positions_empty(tg, feed):
    feed(message("/positions eth_usdt"))
    assert tg.texts() == ["No open positions for ETH/USDT."]


def test_exits_lists_armed_exits(tg, feed):
    exit_ = exit_armed(position_open())
    feed(message("/exits"))
    [text] = tg.texts()
    assert "Protective exits: 1 active" in text
    assert f"#{exit_.pk} BTC/USDT pos #{exit_.position_id} armed: SL 48020 / TP 50960" in text


def test_metrics_summarises_the_last_day(tg, feed):
    position_closed("BTC/USDT", "12.5", hours_ago=2)
    feed(message("/metrics"))
    [text] = tg.texts()
    assert text.startswith("Last 24 h")
    assert "realized PnL +12.50" in text
    assert "reconciliation: no run yet" in text


def test_profit_sends_statistics_and_a_png_chart(tg, feed):
    from matplotlib.image import imread

    for pnl, hours in (("10", 30), ("-4", 20), ("6.5", 10), ("-2", 5)):
        position_closed("BTC/USDT", pnl, hours_ago=hours)
    feed(message("/profit BTC/USDT"))
    [photo] = tg.sent("sendPhoto")
    png = photo.files["photo"]
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    height, width, _ = imread(BytesIO(png), format="png").shape
    assert (width, height) == (800, 450)
    caption = photo.params["caption"]
    assert "realized +10.50" in caption
    assert "closed 4 (won 2, lost 2)" in caption
    assert "win rate 50.00%" in caption
    assert "max drawdown 4.00" in caption


def test_profit_without_trades_still_draws_a_chart(tg, feed):
    feed(message("/profit"))
    [photo] = tg.sent("sendPhoto")
    assert photo.files["photo"].startswith(b"\x89PNG")
    assert "closed 0" in photo.params["caption"]


def test_eval_decides_on_the_simulator_candles(tg, feed, sim_exchange):
    from apps.signals.models import Decision

    feed(message("/eval BTC/USDT 1m 100"))
    [text] = tg.texts()
    decision = Decision.objects.get()
    assert decision.source == "telegram"
    assert text.startswith(f"BTC/USDT 1m: {decision.action.upper()} · score {decision.score:+.3f}")
    assert f"decision #{decision.pk}" in text


def test_why_explains_the_latest_decision(tg, feed, sim_exchange):
    from apps.signals.models import Decision

    feed(message("/eval ETH/USDT 5m"), message("/why ETH/USDT 5m"))
    decision = Decision.objects.get()  # /why reused the stored decision
    why = tg.texts()[1]
    assert why.startswith("ETH/USDT 5m:")
    assert "features" in why and "risk:" in why
    assert f"decision #{decision.pk}" in why


def test_why_with_a_limit_takes_a_fresh_decision(tg, feed, sim_exchange):
    from apps.signals.models import Decision

    feed(message("/why BTC/USDT 1m 60"))
    assert Decision.objects.count() == 1
    assert tg.texts()[0].startswith("(fresh decision)")


def test_smoke_test_checks_every_dependency(tg, feed, sim_exchange):
    feed(message("/test"))
    [text] = tg.texts()
    assert "✅ database:" in text
    assert "✅ exchange: paper BTC/USDT last" in text
    assert "redis: not configured" in text
    assert "celery:" in text


@pytest.mark.parametrize(
    ("text", "usage"),
    [
        ("/eval BTCUSDT", "Usage: /eval [SYMBOL] [TF] [LIMIT]"),
        ("/eval BTC/USDT 7m", "timeframe must be one of"),
        ("/eval BTC/USDT 1m lots", "LIMIT must be a whole number"),
        ("/why BTC/USDT 1m 5", "LIMIT must be a whole number"),
        ("/eval a b c d", "too many arguments"),
        ("/profit BTC/USDT ETH/USDT", "Usage: /profit [SYMBOL]"),
        ("/positions ???", "Usage: /positions [SYMBOL]"),
        ("/status now", "Usage: /status"),
        ("/close", "Usage: /close POSITION_ID"),
        ("/close twelve", "is not a position id"),
        ("/close 99999", "no position #99999"),
    ],
)
def test_bad_arguments_get_a_one_line_usage(tg, feed, position_close_stub, text, usage):
    feed(message(text))
    [reply] = tg.texts()
    assert usage in reply
    assert "\n" not in reply and "Traceback" not in reply


def test_a_failing_use_case_is_answered_in_one_line(tg, feed, monkeypatch):
    def broken():
        raise RuntimeError("database on fire")

    monkeypatch.setattr("apps.telegram_bot.replies.exits_text", broken)
    feed(message("/exits"))
    assert tg.texts() == ["Sorry, that failed (RuntimeError); the details are in the bot's log."]
