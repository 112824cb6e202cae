"""The Reports section of the admin (issue 15, item 1) over trades made by order_create / fill_apply: what the
operator reads on each page, the time-zone boundary of the PnL periods, staff-only access, money as money."""

from __future__ import annotations

import html
import json
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.urls import reverse

from apps.reports.selectors import performance, pnl_by_period

pytestmark = pytest.mark.django_db
D = Decimal
PAGES = ("reports-index", "reports-balances", "reports-pnl", "reports-performance", "reports-trades")


@pytest.fixture
def staff(client, operator, settings):
    settings.MODE = "paper"  # paper: the password alone (live asks for the second factor, see tests/admin)
    client.force_login(operator)
    return client


@pytest.fixture
def broker(monkeypatch):
    from apps.exchange import services
    from tests.api.fakes import paper_broker

    fake = paper_broker()
    monkeypatch.setattr(services, "_broker", fake)
    return fake


def _midnight_utc() -> datetime:
    return datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


@pytest.fixture
def trades(trade):
    """A win closed at 23:30 UTC yesterday (00:30 today in Berlin), a loss closed two days ago, on ETH with
    another rule, sold by the operator."""
    late = _midnight_utc() - timedelta(minutes=30)
    win = trade(buy="50000", sell="51000", opened=late - timedelta(hours=2), closed=late)
    loss = trade(
        symbol="ETH/USDT",
        buy="3000",
        sell="2900",
        amount="0.1",
        opened=late - timedelta(days=2, hours=1),
        closed=late - timedelta(days=2),
        rule="mean_revert",
        exit_origin="operator",
    )
    return win, loss


def _text(page: str) -> str:
    shown = re.sub(r"<script.*?</script>", "", page, flags=re.S)
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]*>", " ", shown)))


def _money_as_money(page: str) -> None:
    shown = _text(page)
    assert not re.search(r"\d\.\d{12,}", shown), "no 16-decimal figures"
    assert not re.search(r"(?<![\w.-])\d+(?:\.\d+)?[eE][-+]?\d+(?![\w.])", shown), "no E-notation"


def _rows(page: str, table_id: str) -> list[list[str]]:
    body = re.search(rf'id="{table_id}".*?<tbody>(.*?)</tbody>', page, flags=re.S).group(1)
    return [
        [
            re.sub(r"\s+", " ", re.sub(r"<[^>]*>", "", cell)).strip()
            for cell in re.findall(r"<td[^>]*>(.*?)</td>", tr, re.S)
        ]
        for tr in re.findall(r"<tr[^>]*>(.*?)</tr>", body, flags=re.S)
    ]


def test_reports_are_staff_only(client, django_user_model):
    for name in PAGES:
        answer = client.get(reverse(f"admin:{name}"))
        assert answer.status_code == 302 and "/admin/login/" in answer["Location"], name
    client.force_login(django_user_model.objects.create_user("viewer", password="viewer-pass-123", is_staff=False))
    assert client.get(reverse("admin:reports-pnl")).status_code == 302


def test_reports_are_reached_from_the_index_and_every_page(staff, broker):
    index = staff.get(reverse("admin:index")).content.decode()
    assert f'href="{reverse("admin:reports-index")}"' in index and f'href="{reverse("admin:reports-pnl")}"' in index
    for name in PAGES:
        page = staff.get(reverse(f"admin:{name}"))
        assert page.status_code == 200, name
        body = page.content.decode()
        for other in PAGES[1:]:
            assert f'href="{reverse(f"admin:{other}")}"' in body, (name, other)


def test_pnl_per_day_follows_the_chosen_time_zone(staff, trades):
    win, loss = trades
    yesterday = (_midnight_utc() - timedelta(days=1)).date()
    today_utc = _midnight_utc().date()

    utc = staff.get(reverse("admin:reports-pnl"), {"period": "day", "count": 4, "tz": "UTC"}).content.decode()
    berlin = staff.get(reverse("admin:reports-pnl"), {"period": "day", "count": 4, "tz": "Europe/Berlin"})
    berlin = berlin.content.decode()

    def by_start(page: str) -> dict[str, str]:
        starts = re.findall(r'<tr data-start="([\d-]+)">', page)
        return dict(zip(starts, [row[-1] for row in _rows(page, "pnl-table")], strict=True))

    shown_utc, shown_berlin = by_start(utc), by_start(berlin)
    assert len(shown_utc) == 4 and len(shown_berlin) == 4  # empty days included
    assert win.realized_pnl == D("7.98")  # +10 gross, fees 1.00 + 1.02
    assert shown_utc[yesterday.isoformat()] == "+7.98 USDT"  # 23:30 UTC: yesterday in UTC
    assert shown_utc.get(today_utc.isoformat()) == "0.00 USDT"
    assert shown_berlin[today_utc.isoformat()] == "+7.98 USDT"  # 00:30 in Berlin: the next day there
    assert shown_berlin[yesterday.isoformat()] == "0.00 USDT"
    # the same figures the API and Telegram answer from (one set of selectors)
    assert [r.realized_pnl for r in pnl_by_period(period="day", count=4, tz="Europe/Berlin")][-2:] in (
        [D(0), win.realized_pnl],  # Berlin's today is the UTC date of midnight
        [win.realized_pnl, D(0)],  # after 22:00/23:00 UTC Berlin is a day ahead
    )
    # the bar chart: oldest first, one bar per day, drawn from a json_script (no inline script: CSP)
    chart = json.loads(
        re.search(r'<script id="pnl-chart-data" type="application/json">(.*?)</script>', berlin).group(1)
    )
    assert [b["time"] for b in chart["bars"]] == sorted(shown_berlin)
    assert sum(D(str(b["value"])) for b in chart["bars"]) == win.realized_pnl + loss.realized_pnl
    assert 'data-chart="bars" data-source="pnl-chart-data"' in berlin
    assert "lightweight-charts-5.2.1/lightweight-charts.standalone.production.js" in berlin
    assert re.search(r"Total.*?−?\d[\d,]*\.\d\d USDT", _text(berlin))
    _money_as_money(utc)


def test_pnl_per_week_and_month_and_bad_input(staff, trades):
    win, loss = trades
    weeks = staff.get(reverse("admin:reports-pnl"), {"period": "week", "count": 3, "tz": "UTC"}).content.decode()
    assert len(_rows(weeks, "pnl-table")) == 3 and re.search(r"\d{4}-W\d\d \(from Mon ", weeks)
    months = staff.get(reverse("admin:reports-pnl"), {"period": "month", "count": 2}).content.decode()
    assert len(_rows(months, "pnl-table")) == 2
    total = win.realized_pnl + loss.realized_pnl
    assert f"{'+' if total > 0 else '−'}{abs(total):.2f} USDT" in _text(months)
    bad = staff.get(reverse("admin:reports-pnl"), {"period": "day", "count": 9999, "tz": "Mars/Olympus"})
    assert bad.status_code == 200
    text = _text(bad.content.decode())
    assert "unknown time zone 'Mars/Olympus'" in text and "less than or equal to 366" in text
    assert 'id="pnl-table"' not in bad.content.decode()
    year = staff.get(reverse("admin:reports-pnl"), {"period": "year"}).content.decode()
    assert "Select a valid choice" in year
    only_zone = staff.get(reverse("admin:reports-pnl"), {"tz": "Asia/Tokyo"}).content.decode()  # a day, N=30
    assert len(_rows(only_zone, "pnl-table")) == 30 and "per day, last 30, Asia/Tokyo" in only_zone


def test_performance_per_pair_entry_rule_and_exit_reason(staff, trades):
    win, loss = trades
    page = staff.get(reverse("admin:reports-performance")).content.decode()
    pairs = _rows(page, "performance-pair")
    assert [r[0] for r in pairs] == ["BTC/USDT", "ETH/USDT"]  # best PnL first
    assert pairs[0][1:6] == ["1", "1", "0", "100.0%", "+7.98 USDT"]
    assert pairs[1][4] == "0.0%" and pairs[1][5] == f"−{abs(loss.realized_pnl):.2f} USDT"
    assert {r[0] for r in _rows(page, "performance-entry_rule")} == {"trend_follow", "mean_revert"}
    assert {r[0] for r in _rows(page, "performance-exit_reason")} == {"signal", "operator"}
    assert [r.key for r in performance(by="pair")] == ["BTC/USDT", "ETH/USDT"]  # the selectors' order
    _money_as_money(page)


def test_closed_trades_with_entry_exit_fees_and_pnl(staff, trades):
    win, loss = trades
    page = staff.get(reverse("admin:reports-trades")).content.decode()
    rows = _rows(page, "trades-table")
    assert [r[1] for r in rows] == ["BTC/USDT", "ETH/USDT"]  # newest close first
    btc = rows[0]
    assert btc[2] == "0.01000000 BTC" and btc[3].startswith("50,000.") and btc[4].startswith("51,000.")
    assert btc[7] == "2.02 USDT" and btc[8] == "+7.98 USDT" and btc[9:11] == ["trend_follow", "signal"]
    assert "2 closed trades" in _text(page)
    eth_only = staff.get(reverse("admin:reports-trades"), {"symbol": "ETH/USDT"}).content.decode()
    assert [r[1] for r in _rows(eth_only, "trades-table")] == ["ETH/USDT"]
    assert staff.get(reverse("admin:reports-trades"), {"page": "x"}).status_code == 200
    _money_as_money(page)


def test_balances_of_the_paper_account_with_quote_value(staff, broker):
    from apps.exchange.models import PaperBalance

    broker.fetch_balance()  # seeds the paper account
    PaperBalance.objects.update_or_create(currency="BTC", defaults={"free": D("0.02"), "used": D("0.01")})
    page = staff.get(reverse("admin:reports-balances")).content.decode()
    rows = {r[0]: r for r in _rows(page, "balances-table")}
    assert "Paper account balances" in page
    assert rows["BTC"][3] == "0.03 BTC".replace("0.03", "0.03000000") and rows["BTC"][5] == "1,500.00 USDT"
    assert rows["USDT"][4] == "1.00 USDT"
    _money_as_money(page)


def test_balances_unreadable_are_said_not_a_500(staff, monkeypatch):
    from apps.exchange import services
    from apps.exchange.broker import ExchangeError

    class Down:
        def fetch_balance(self):
            raise ExchangeError("exchange timed out")

    monkeypatch.setattr(services, "_broker", Down())
    page = staff.get(reverse("admin:reports-balances"))
    assert page.status_code == 200 and "exchange timed out" in page.content.decode()
