"""The dashboard and the symbol page in chromium, over a history traded against the simulator: what an
operator sees at a glance (issue 14, items 1-3)."""

from __future__ import annotations

import json
import re

import pytest

pytestmark = pytest.mark.slow

SCIENTIFIC = re.compile(r"\b\d+(\.\d+)?[eE][-+]?\d+\b")
LONG_DECIMALS = re.compile(r"\d\.\d{12,}")


def test_dashboard_shows_banner_money_charts_and_refreshes(history, console_page):
    page = console_page.page
    banner = page.locator("#mode-banner")
    assert banner.inner_text().startswith("LIVE")
    assert "rgb(198, 40, 40)" in banner.evaluate("e => getComputedStyle(e).backgroundColor")  # red for live
    text = page.locator("#dash").inner_text()
    assert not SCIENTIFIC.search(text) and not LONG_DECIMALS.search(text), "money shown as money"
    assert re.search(r"[+\u2212]\d[\d,]*\.\d\d USDT", console_page.text("#pnl-7d")), "PnL signed, in USDT"
    assert "Exchange balances (Gate.io)" in text and re.search(r"\d{1,3}(,\d{3})*\.\d\d USDT", text)
    rows = page.locator("#dash-positions tbody tr")
    assert rows.count() == 2 and "BTC/USDT" in rows.first.inner_text()
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", console_page.text("#dash-orders")), "time, seconds, zone"
    for chart in ("#chart-equity", "#chart-daily"):
        page.wait_for_selector(f"{chart}[data-drawn]")
        assert int(page.get_attribute(chart, "data-drawn")) > 0
        box = page.locator(f"{chart} canvas").first.bounding_box()
        assert box and box["width"] > 100 and box["height"] > 100
    console_page.shot("dashboard")
    console_page.no_horizontal_scroll()
    # auto-refresh swaps the fragment in and draws the charts again
    with page.expect_response(lambda r: "/admin/console/dashboard/" in r.url, timeout=40_000) as refreshed:
        pass
    assert refreshed.value.ok
    page.wait_for_selector("#chart-equity[data-drawn] canvas")


def test_symbol_page_draws_candles_with_entries_exits_and_scores(history, console_page):
    page = console_page.page
    page.click("#dash-positions a:text('BTC/USDT')")
    page.wait_for_selector("#chart-candles[data-drawn]")
    data = json.loads(page.locator("#symbol-chart-data").inner_text())
    assert int(page.get_attribute("#chart-candles", "data-drawn")) == len(data["candles"]) > 50
    assert int(page.get_attribute("#chart-candles", "data-markers")) >= 2  # entries and exits marked
    assert {m["side"] for m in data["markers"]} == {"buy", "sell"}
    assert {line["kind"] for line in data["lines"]} == {"entry", "stop", "take"}  # the open position's levels
    assert data["scores"], "decision scores in the pane underneath"
    assert page.locator("#chart-candles canvas").count() >= 2  # price pane and score pane
    position = console_page.text("#symbol-position")
    assert re.search(r"Stop-loss\s+[\d,]+\.\d USDT", position) and "BTC" in position
    assert page.locator("#symbol-decisions tbody tr").count() >= 5
    console_page.shot("symbol")
    console_page.no_horizontal_scroll()
