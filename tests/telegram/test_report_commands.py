"""/balance, /daily, /weekly, /monthly, /performance, /trades, /version and /closeall (issue 15, item 2),
answered by the real python-telegram-bot against the fake Bot API, over trades made by the trading core."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from apps.audit.models import AuditLog
from tests.api.fakes import paper_broker
from tests.reports.conftest import round_trip
from tests.telegram.conftest import OPERATOR_CHAT, READER_CHAT, message
from tests.telegram.test_operator_commands import buttons

pytestmark = pytest.mark.django_db(transaction=True)
D = Decimal


@pytest.fixture
def paper(monkeypatch, settings):
    settings.MODE = "paper"
    settings.SYMBOLS = ("BTC/USDT", "ETH/USDT")
    broker = paper_broker()
    monkeypatch.setattr("apps.exchange.services._broker", broker)
    return broker


def _two_trades():
    now = timezone.now()
    win = round_trip(buy="50000", sell="51000", opened=now - timedelta(hours=2), closed=now - timedelta(hours=1))
    loss = round_trip(
        symbol="ETH/USDT",
        buy="3000",
        sell="2900",
        amount="0.1",
        opened=now - timedelta(days=1, hours=2),
        closed=now - timedelta(days=1),
        rule="mean_revert",
        exit_origin="operator",
    )
    return win, loss


def test_balance_lists_the_paper_account_with_quote_values(tg, feed, paper):
    from apps.exchange.models import PaperBalance

    paper.fetch_balance()
    PaperBalance.objects.update_or_create(currency="BTC", defaults={"free": D("0.01"), "used": D("0")})
    feed(message("/balance"))
    [text] = tg.texts()
    assert text.startswith("Balances (paper account), valued in USDT")
    assert "BTC: 0.01 (free 0.01, in orders 0) ≈ 500.00 USDT" in text
    usdt = PaperBalance.objects.get(currency="USDT").free
    assert f"total ≈ {usdt + 500:,.2f} USDT" in text


def test_daily_weekly_monthly_show_the_realized_pnl_per_period(tg, feed):
    win, loss = _two_trades()
    feed(message("/daily 3"), message("/weekly"), message("/monthly 2 Asia/Tokyo"))
    daily, weekly, monthly = tg.texts()
    lines = daily.splitlines()
    assert lines[0] == "Daily realized PnL (USDT, UTC), last 3"
    assert len(lines) == 5  # title, three days, total
    by_day: dict[str, Decimal] = {}
    for position in (win, loss):
        day = position.closed_at.date().isoformat()
        by_day[day] = by_day.get(day, D(0)) + position.realized_pnl
    for day, pnl in by_day.items():
        [line] = [line for line in lines if line.startswith(day)]
        assert f"{pnl:+.2f}" in line
    assert f"total {win.realized_pnl + loss.realized_pnl:+.2f} over 2 trades" in daily
    assert weekly.splitlines()[0] == "Weekly realized PnL (USDT, UTC), last 8"
    assert len(weekly.splitlines()) == 10
    assert monthly.splitlines()[0] == "Monthly realized PnL (USDT, Asia/Tokyo), last 2"


def test_period_commands_refuse_bad_arguments_with_the_usage_line(tg, feed):
    feed(message("/daily 0"), message("/weekly 3 Mars/Olympus"), message("/monthly x"), message("/daily 1 UTC x"))
    texts = tg.texts()
    assert (
        texts[0]
        == "Usage: /daily [N] [TIME_ZONE] — e.g. /daily 7 Europe/Berlin (N must be a whole number from 1 to 60)"
    )
    assert texts[1].startswith("Usage: /weekly") and "unknown time zone 'Mars/Olympus'" in texts[1]
    assert texts[2].startswith("Usage: /monthly")
    assert texts[3].endswith("(too many arguments)")


def test_performance_groups_by_pair_entry_rule_and_exit_reason(tg, feed):
    win, loss = _two_trades()
    feed(message("/performance"))
    [text] = tg.texts()
    assert "Performance per pair" in text and "Performance per entry rule" in text
    assert f"BTC/USDT: 1 trades, win 100.0% · PnL {win.realized_pnl:+.2f}" in text
    assert "mean_revert: 1 trades, win 0.0%" in text
    assert "operator: 1 trades" in text and "signal: 1 trades" in text


def test_performance_without_trades_says_so(tg, feed):
    feed(message("/performance"))
    assert tg.texts() == ["Performance per pair\nno closed trade yet"]


def test_trades_lists_the_last_closed_trades_with_entry_exit_pnl_and_fees(tg, feed):
    win, loss = _two_trades()
    feed(message("/trades 1"), message("/trades"), message("/trades 51"))
    one, both, bad = tg.texts()
    assert one.splitlines()[0] == "Closed trades: the last 1 of 2"
    assert one.splitlines()[1].startswith(
        f"#{win.pk} BTC/USDT 0.01 · in 50000 → out 51000 · PnL {win.realized_pnl:+.2f} · fees 2.02 · "
        "trend_follow / signal"
    )
    assert len(both.splitlines()) == 3 and f"#{loss.pk} ETH/USDT" in both
    assert bad.startswith("Usage: /trades [N]")


def test_trades_without_any_says_so(tg, feed):
    feed(message("/trades"))
    assert tg.texts() == ["No closed trades yet."]


def test_version_names_the_version_and_mode(tg, feed, settings):
    from apps.monitoring.metrics import VERSION

    settings.MODE = "paper"
    feed(message("/version"))
    assert tg.texts() == [f"tradebot {VERSION} · mode paper · exchange {settings.EXCHANGE}"]


def test_help_lists_the_report_commands(tg, feed):
    feed(message("/help"))
    [text] = tg.texts()
    for name in (
        "/balance",
        "/daily",
        "/weekly",
        "/monthly",
        "/performance",
        "/entries",
        "/exits",
        "/trades",
        "/version",
        "/closeall",
        "/stopentry",
    ):
        assert name in text


def _open_paper_position(broker, symbol: str):
    from apps.audit.actors import SYSTEM
    from apps.trading.models import Position
    from apps.trading.services import order_create
    from apps.trading.submission import order_submit

    order = order_create(symbol=symbol, side="buy", type="market", quote_amount=D("100"), actor=SYSTEM)
    order_submit(order=order, broker=broker, actor=SYSTEM)
    return Position.objects.get(symbol=symbol, status="open")


def test_closeall_asks_then_closes_every_open_position_only_after_confirm(tg, feed, paper):
    from apps.trading.models import Order, Position

    btc, eth = _open_paper_position(paper, "BTC/USDT"), _open_paper_position(paper, "ETH/USDT")
    feed(message("/closeall"))
    [ask] = tg.sent("sendMessage")
    assert ask.params["text"].startswith("Close all 2 open positions at market? ")
    assert f"#{btc.pk} BTC/USDT" in ask.params["text"] and f"#{eth.pk} ETH/USDT" in ask.params["text"]
    assert Order.objects.filter(side="sell").count() == 0  # nothing is sold before Confirm

    feed(message("/closeall"))  # asking again changes nothing either
    assert Order.objects.filter(side="sell").count() == 0
    feed(button_for(ask, "Confirm"))
    assert Order.objects.filter(side="sell", origin="protective_exit").count() == 2
    [edit] = tg.sent("editMessageText")
    assert edit.params["text"].startswith("Closing all 2 open positions")
    assert f"Closing position #{btc.pk} BTC/USDT" in edit.params["text"]
    assert not Position.objects.filter(status="open").exists()
    assert AuditLog.objects.filter(action="position.close", actor_type="telegram").count() == 2


def button_for(ask, label: str) -> dict:
    from tests.telegram.conftest import button

    return button(buttons(ask)[label])


def test_closeall_cancelled_sells_nothing(tg, feed, paper):
    from apps.trading.models import Order, Position

    _open_paper_position(paper, "BTC/USDT")
    feed(message("/closeall"))
    feed(button_for(tg.sent("sendMessage")[0], "Cancel"))
    assert Order.objects.filter(side="sell").count() == 0
    assert Position.objects.filter(status="open").count() == 1
    assert tg.sent("editMessageText")[0].params["text"] == "Cancelled: /closeall"


def test_closeall_refused_outside_trading_chats(tg, feed, paper):
    _open_paper_position(paper, "BTC/USDT")
    feed(message("/closeall", chat_id=READER_CHAT))
    [text] = tg.texts()
    assert "not allowed to trade" in text
    assert not any("reply_markup" in call.params for call in tg.sent("sendMessage"))
    assert AuditLog.objects.filter(action="telegram.trading_refused", actor_id=str(READER_CHAT)).count() == 1


def test_closeall_with_nothing_open_asks_nothing(tg, feed):
    feed(message("/closeall"))
    assert tg.texts() == ["No open positions to close."]
    assert not any("reply_markup" in call.params for call in tg.sent("sendMessage"))


def test_entries_shows_the_performance_per_entry_rule(tg, feed):
    win, loss = _two_trades()
    feed(message("/entries"), message("/entries now"))
    entries, bad = tg.texts()
    lines = entries.splitlines()
    assert lines[0] == "Performance per entry rule"
    assert lines[1] == f"trend_follow: 1 trades, win 100.0% · PnL {win.realized_pnl:+.2f} · avg {win.realized_pnl:+.2f}"
    assert lines[2].startswith("mean_revert: 1 trades, win 0.0%") and len(lines) == 3
    assert bad.startswith("Usage: /entries")


def test_exits_lists_the_exits_then_the_performance_per_exit_reason(tg, feed):
    win, loss = _two_trades()
    feed(message("/exits"))
    [text] = tg.texts()
    exits, reasons = text.split("\n\n")
    assert exits.startswith("Protective exits")
    lines = reasons.splitlines()
    assert lines[0] == "Performance per exit reason"
    assert lines[1].startswith(f"signal: 1 trades, win 100.0% · PnL {win.realized_pnl:+.2f}")
    assert lines[2].startswith(f"operator: 1 trades, win 0.0% · PnL {loss.realized_pnl:+.2f}")


def test_stopentry_stops_entries_audited_while_exits_keep_selling(tg, feed, paper, settings):
    from apps.risk.selectors import trading_status
    from apps.risk.services import risk_check

    settings.ENABLE_TRADING = True
    position = _open_paper_position(paper, "BTC/USDT")
    feed(message("/stopentry maintenance window"))
    [text] = tg.texts()
    assert text.startswith("⏸ Entries stopped (kill switch on): maintenance window.")
    status = trading_status()
    assert status.halted and not status.entries_allowed
    [row] = AuditLog.objects.filter(action="trading.pause")
    assert row.actor_type == "telegram" and row.actor_id == str(OPERATOR_CHAT)
    # the same kill switch every entry checks; an exit of the open position is still allowed
    assert not risk_check(symbol="ETH/USDT", side="buy", broker=paper, now=timezone.now()).allowed
    exit_ = risk_check(symbol="BTC/USDT", side="sell", broker=paper, now=timezone.now())
    assert exit_.allowed and exit_.is_exit and exit_.amount == position.amount
    feed(message("/stopentry again"))  # already stopped: nothing changes, the first reason stays
    assert tg.texts()[-1].startswith("Entries already stopped: ")
    assert AuditLog.objects.filter(action="trading.pause").count() == 1
    assert trading_status().halt_reason == "maintenance window"


def test_stopentry_refused_outside_trading_chats(tg, feed):
    from apps.risk.selectors import trading_status

    feed(message("/stopentry", chat_id=READER_CHAT))
    [text] = tg.texts()
    assert text == "/stopentry refused: this chat is not allowed to trade (TELEGRAM_TRADING_CHAT_IDS)."
    assert not trading_status().halted
    assert AuditLog.objects.filter(action="telegram.trading_refused", actor_id=str(READER_CHAT)).count() == 1


def test_every_command_has_a_description_for_the_bot_menu():
    from apps.telegram_bot.handlers import COMMANDS
    from apps.telegram_bot.management.commands.telegram_bot import DESCRIPTIONS
    from apps.telegram_bot.parsing import USAGE

    assert set(USAGE) == set(DESCRIPTIONS)  # set_my_commands reads one per usage line at start-up
    assert set(USAGE) <= set(COMMANDS) and {"entries", "stopentry"} <= set(USAGE)
