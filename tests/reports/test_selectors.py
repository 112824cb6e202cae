"""The report selectors (issue 15, item 1) over trades made by order_create / fill_apply."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from apps.reports.selectors import (
    ReportInputError,
    balances_report,
    performance,
    pnl_by_period,
    trade_rows,
    trades_closed,
)
from tests.api.fakes import paper_broker

pytestmark = pytest.mark.django_db
D = Decimal
T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)  # a Monday


def test_realized_pnl_per_day_is_the_positions_pnl_after_fees(trade):
    win = trade(buy="50000", sell="51000", opened=T0 - timedelta(hours=3), closed=T0 - timedelta(hours=2))
    loss = trade(buy="50000", sell="49500", opened=T0 - timedelta(days=1, hours=3), closed=T0 - timedelta(days=1))
    # 0.01 BTC: +10 gross minus fees 0.2 % of 500 and of 510 (sold amount is net of nothing: fees in USDT)
    assert win.realized_pnl == D("10") - D("1") - D("1.02")
    days = pnl_by_period(period="day", count=3, now=T0)
    assert [d.start.isoformat() for d in days] == ["2026-02-28", "2026-03-01", "2026-03-02"]
    assert [d.realized_pnl for d in days] == [D(0), loss.realized_pnl, win.realized_pnl]
    assert [(d.trades, d.wins) for d in days] == [(0, 0), (1, 0), (1, 1)]


def test_day_boundary_follows_the_chosen_time_zone(trade):
    # 23:30 UTC on Sunday 1 March is 00:30 on Monday 2 March in Berlin (UTC+1 in winter)
    late = datetime(2026, 3, 1, 23, 30, tzinfo=UTC)
    position = trade(buy="50000", sell="50500", opened=late - timedelta(hours=1), closed=late)
    utc = pnl_by_period(period="day", count=2, now=T0)
    berlin = pnl_by_period(period="day", count=2, tz="Europe/Berlin", now=T0)
    assert [(d.start.isoformat(), d.realized_pnl) for d in utc] == [
        ("2026-03-01", position.realized_pnl),
        ("2026-03-02", D(0)),
    ]
    assert [(d.start.isoformat(), d.realized_pnl) for d in berlin] == [
        ("2026-03-01", D(0)),
        ("2026-03-02", position.realized_pnl),
    ]
    assert berlin[1].starts_at == datetime(2026, 3, 1, 23, 0, tzinfo=UTC)


def test_week_and_month_boundaries_follow_the_time_zone(trade):
    # 16:00 UTC on Saturday 28 February is 01:00 on Sunday 1 March in Tokyo: February in UTC, March in Tokyo
    at = datetime(2026, 2, 28, 16, 0, tzinfo=UTC)
    position = trade(
        buy="3000", sell="3100", symbol="ETH/USDT", amount="0.1", opened=at - timedelta(hours=1), closed=at
    )
    months_utc = pnl_by_period(period="month", count=2, now=T0)
    months_tokyo = pnl_by_period(period="month", count=2, tz="Asia/Tokyo", now=T0)
    assert [(m.start.isoformat(), m.realized_pnl) for m in months_utc] == [
        ("2026-02-01", position.realized_pnl),
        ("2026-03-01", D(0)),
    ]
    assert [(m.start.isoformat(), m.realized_pnl) for m in months_tokyo] == [
        ("2026-02-01", D(0)),
        ("2026-03-01", position.realized_pnl),
    ]
    weeks = pnl_by_period(period="week", count=2, now=T0)  # ISO weeks start on Monday
    assert [(w.start.isoformat(), w.trades) for w in weeks] == [("2026-02-23", 1), ("2026-03-02", 0)]


def test_month_periods_cross_the_year(trade):
    months = pnl_by_period(period="month", count=4, now=datetime(2026, 2, 10, tzinfo=UTC))
    assert [m.start.isoformat() for m in months] == ["2025-11-01", "2025-12-01", "2026-01-01", "2026-02-01"]


@pytest.mark.parametrize(
    "kwargs,needle",
    [
        ({"period": "year", "count": 1}, "period"),
        ({"period": "day", "count": 0}, "count"),
        ({"period": "day", "count": 367}, "count"),
        ({"period": "day", "count": 1, "tz": "Mars/Olympus"}, "time zone"),
        ({"period": "day", "count": 1, "tz": "America"}, "time zone"),  # a directory of the zone database
        ({"period": "day", "count": 1, "tz": "../etc/passwd"}, "time zone"),
    ],
)
def test_bad_period_arguments_are_refused_clearly(kwargs, needle):
    with pytest.raises(ReportInputError, match=needle):
        pnl_by_period(**kwargs)


def test_closed_trades_show_entry_exit_pnl_and_fees(trade):
    position = trade(buy="50000", sell="51000", opened=T0 - timedelta(hours=2), closed=T0 - timedelta(hours=1))
    count, [row] = trades_closed(limit=10)
    assert count == 1
    assert (row.position_id, row.symbol, row.amount) == (position.pk, "BTC/USDT", D("0.01"))
    assert (row.entry_price, row.exit_price) == (D("50000"), D("51000"))
    assert (row.cost, row.proceeds) == (D("500"), D("510"))
    assert row.fees_quote == D("2.02") == position.fees_quote
    assert row.realized_pnl == row.proceeds - row.cost - row.fees_quote == position.realized_pnl
    assert (row.entry_rule, row.exit_reason) == ("trend_follow", "signal")
    assert (row.opened_at, row.closed_at) == (T0 - timedelta(hours=2), T0 - timedelta(hours=1))


def test_closed_trades_are_paged_newest_first_and_filtered_by_symbol(trade):
    for i in range(5):
        trade(
            symbol="BTC/USDT" if i % 2 == 0 else "ETH/USDT",
            buy="100",
            sell="101",
            amount="1",
            opened=T0 + timedelta(hours=i),
            closed=T0 + timedelta(hours=i, minutes=30),
        )
    count, page = trades_closed(limit=2, offset=1)
    assert count == 5 and [r.closed_at.hour for r in page] == [15, 14]
    count, page = trades_closed(limit=10, symbol="ETH/USDT")
    assert count == 2 and {r.symbol for r in page} == {"ETH/USDT"}


def test_performance_per_pair_entry_rule_and_exit_reason(trade):
    t = T0 - timedelta(days=1)
    a = trade(buy="50000", sell="52000", opened=t, closed=t + timedelta(minutes=5), rule="trend_follow")
    b = trade(
        buy="50000", sell="49000", opened=t + timedelta(hours=1), closed=t + timedelta(hours=2), rule="mean_revert"
    )
    c = trade(
        symbol="ETH/USDT",
        buy="3000",
        sell="3300",
        amount="0.1",
        opened=t + timedelta(hours=3),
        closed=t + timedelta(hours=4),
        rule="trend_follow",
        exit_origin="operator",
    )
    pairs = {r.key: r for r in performance(by="pair")}
    assert set(pairs) == {"BTC/USDT", "ETH/USDT"}
    btc = pairs["BTC/USDT"]
    assert (btc.trades, btc.wins, btc.losses, btc.win_rate) == (2, 1, 1, D("50.00"))
    assert btc.pnl == a.realized_pnl + b.realized_pnl
    assert btc.average == (btc.pnl / 2).quantize(D("1e-8"))
    assert btc.fees == a.fees_quote + b.fees_quote
    rules = {r.key: (r.trades, r.pnl) for r in performance(by="entry_rule")}
    assert rules == {"trend_follow": (2, a.realized_pnl + c.realized_pnl), "mean_revert": (1, b.realized_pnl)}
    reasons = {r.key: r.trades for r in performance(by="exit_reason")}
    assert reasons == {"signal": 2, "operator": 1}
    assert [r.key for r in performance(by="pair")] == sorted(pairs, key=lambda k: -pairs[k].pnl)
    with pytest.raises(ReportInputError, match="by must be one of"):
        performance(by="weekday")


def test_operator_entry_is_reported_by_origin(trade):
    position = trade(
        buy="100", sell="99", amount="1", opened=T0, closed=T0 + timedelta(minutes=1), entry_origin="operator"
    )
    [row] = trade_rows([position])
    assert row.entry_rule == "operator"


def test_exit_reason_of_a_stop_loss_fired_by_the_exits_engine(monkeypatch):
    """A paper buy filled through order_submit, then exits_check sees the price under the stop and sells: the
    trade's exit reason is the protective exit's trigger reason."""
    from apps.audit.actors import SYSTEM
    from apps.exits.services import exits_check
    from apps.trading.models import Position
    from tests.api import fakes

    broker = paper_broker()
    monkeypatch.setattr("apps.exchange.services._broker", broker)
    from apps.trading.services import order_create
    from apps.trading.submission import order_submit

    entry = order_create(symbol="BTC/USDT", side="buy", type="market", quote_amount=D("100"), actor=SYSTEM)
    order_submit(order=entry, broker=broker, actor=SYSTEM)
    position = Position.objects.get(symbol="BTC/USDT", status="open")
    monkeypatch.setitem(fakes.PRICES, "BTC/USDT", D("40000"))  # far under any stop-loss
    exits_check(broker=broker, actor=SYSTEM)
    exits_check(broker=broker, actor=SYSTEM)  # follows the exit order up
    position.refresh_from_db()
    assert position.status == Position.Status.CLOSED
    [row] = trade_rows([position])
    assert row.exit_reason == "stop_loss"
    assert row.realized_pnl == position.realized_pnl < 0


def test_paper_balances_are_valued_in_the_quote_currency(settings, trade):
    from apps.exchange.models import PaperBalance

    settings.MODE = "paper"
    settings.SYMBOLS = ("BTC/USDT", "ETH/USDT")
    broker = paper_broker()
    broker.fetch_balance()  # seeds the paper account
    PaperBalance.objects.update_or_create(currency="BTC", defaults={"free": D("0.02"), "used": D("0.01")})
    PaperBalance.objects.update_or_create(currency="DOGE", defaults={"free": D("5"), "used": D("0")})
    report = balances_report(broker=broker)
    rows = {r.currency: r for r in report.rows}
    assert report.source == "paper account" and report.quote == "USDT"
    assert report.rows[0].currency == "USDT" and rows["USDT"].price == 1
    assert rows["BTC"].total == D("0.03") and rows["BTC"].price == D("50000")
    assert rows["BTC"].quote_value == D("1500")
    assert rows["DOGE"].quote_value is None and report.unpriced == ["DOGE"]
    assert report.total_quote == rows["USDT"].total + D("1500")


def test_reports_read_only_the_books_of_the_mode(settings, trade):
    """Paper and live share the database; each mode's reports show its own venue's trades only."""
    from apps.reports.exports import export_csv_lines

    settings.MODE = "live"
    live = trade(buy="50000", sell="50100", opened=T0 - timedelta(hours=2), closed=T0 - timedelta(hours=1))
    settings.MODE = "paper"
    paper = trade(buy="50000", sell="49900", opened=T0 - timedelta(hours=2), closed=T0 - timedelta(hours=1))
    assert [r.position_id for r in trades_closed(limit=10)[1]] == [paper.pk]
    assert [d.realized_pnl for d in pnl_by_period(period="day", count=1, now=T0)] == [paper.realized_pnl]
    assert [(r.key, r.trades) for r in performance(by="pair")] == [("BTC/USDT", 1)]
    assert len(list(export_csv_lines(kind="fills"))) == 1 + 2
    settings.MODE = "live"
    assert [r.position_id for r in trades_closed(limit=10)[1]] == [live.pk]
