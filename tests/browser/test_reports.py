"""The Reports section in chromium (issue 15, item 1), over a history traded against the simulator plus round
trips closed on earlier days through order_create / fill_apply: the PnL bar chart and table, and every report
page fitting the screen without a console error or a CSP violation."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import pytest

from tests.browser.scenario import trading_history
from tests.reports.conftest import round_trip

pytestmark = pytest.mark.slow

SCIENTIFIC = re.compile(r"\b\d+(\.\d+)?[eE][-+]?\d+\b")
LONG_DECIMALS = re.compile(r"\d\.\d{12,}")


@pytest.fixture
def earlier_days(exchange, tmp_path, transactional_db):
    """Closed trades on the six days before today (UTC), winners and losers, so the chart has bars of both signs;
    then the simulator history of the other browser tests (which leaves a position open on each symbol)."""
    today = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0)
    for days, sell in ((6, "50600"), (5, "49700"), (4, "50900"), (2, "49400"), (1, "50300")):
        closed = today - timedelta(days=days)
        round_trip(buy="50000", sell=sell, amount="0.05", opened=closed - timedelta(hours=1), closed=closed)
    trading_history(exchange, tmp_path)
    return exchange


def test_pnl_report_draws_the_bar_chart_and_the_table(earlier_days, console_page):
    page = console_page.page
    page.click("#nav-reports")  # from the header of any admin page
    page.wait_for_selector("#reports-index")
    page.click("#reports-menu a:text('Profit per period')")
    page.wait_for_selector("#pnl-form")
    page.fill("#id_count", "10")
    page.fill("#id_tz", "Europe/Berlin")
    page.click("#pnl-form input[type=submit]")
    page.wait_for_selector("#chart-pnl[data-drawn]")
    assert "tz=Europe%2FBerlin" in page.url and "count=10" in page.url
    data = json.loads(page.locator("#pnl-chart-data").inner_text())
    assert int(page.get_attribute("#chart-pnl", "data-drawn")) == len(data["bars"]) == 10
    assert {b["value"] > 0 for b in data["bars"] if b["value"]} == {True, False}  # wins and losses
    box = page.locator("#chart-pnl canvas").first.bounding_box()
    assert box and box["width"] > 100 and box["height"] > 100
    rows = page.locator("#pnl-table tbody tr")
    assert rows.count() == 10
    table = console_page.text("#pnl-table")
    assert not SCIENTIFIC.search(table) and not LONG_DECIMALS.search(table), "money shown as money"
    assert re.search(r"\+\d[\d,]*\.\d\d USDT", table) and re.search(r"\u2212\d[\d,]*\.\d\d USDT", table)
    assert "Europe/Berlin" in console_page.text("#report-pnl h2")
    console_page.shot("reports-pnl")
    console_page.no_horizontal_scroll()
    # the money column is on screen at every width, without scrolling the table sideways
    pnl = page.locator("#pnl-table thead th:last-child").bounding_box()
    assert pnl and pnl["x"] + pnl["width"] <= page.viewport_size["width"], pnl
    page.select_option("#id_period", "week")
    page.fill("#id_count", "4")
    page.click("#pnl-form input[type=submit]")
    page.wait_for_selector("#chart-pnl[data-drawn]")
    assert page.locator("#pnl-table tbody tr").count() == 4


def test_every_report_page_fits_and_formats_money(earlier_days, console_page):
    for path, marker in (
        ("/admin/reports/performance/", "#performance-exit_reason"),
        ("/admin/reports/trades/", "#trades-table"),
        ("/admin/reports/balances/", "#balances-table"),
    ):
        console_page.go(path)
        text = console_page.text(marker)
        assert not SCIENTIFIC.search(text) and not LONG_DECIMALS.search(text), (path, text)
        assert "USDT" in text, path
        console_page.no_horizontal_scroll()
    console_page.go("/admin/reports/performance/")
    width = console_page.page.viewport_size["width"]
    for box in (cell.bounding_box() for cell in console_page.page.locator("th.tb-pnl").all()):
        assert box and box["x"] + box["width"] <= width, box  # each table's PnL on screen, not scrolled to
    reasons = console_page.text("#performance-exit_reason")
    assert "signal" in reasons and re.search(r"stop_loss|take_profit|operator", reasons)
    console_page.shot("reports-performance")
