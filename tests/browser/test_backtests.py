"""Backtests in the console, in chromium (issue 14, item 6): started from the admin with a CSV file and
parameters through the backtest service, then the equity chart with its drawdown, the metrics, the trades
paginated, and two runs side by side."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from apps.backtest.models import BacktestRun

pytestmark = pytest.mark.slow


def candles_csv(path, n: int = 900, seed: int = 4) -> None:
    """One-minute candles: a range, a climb and a fall, so the live signal trades and the exits fire."""
    rng = random.Random(seed)
    price, t0 = 50000.0, datetime(2026, 11, 1, tzinfo=UTC)
    rows = ["time,open,high,low,close,volume"]
    for i in range(n):
        drift = 0.0 if i < 250 else (0.0012 if i < 550 else -0.001)
        close = price * (1 + drift + rng.gauss(0, 0.0015))
        high, low = max(price, close) * 1.0006, min(price, close) * 0.9994
        when = (t0 + timedelta(minutes=i)).isoformat().replace("+00:00", "Z")
        rows.append(f"{when},{price:.1f},{high:.1f},{low:.1f},{close:.1f},{rng.uniform(1, 9):.4f}")
        price = close
    path.write_text("\n".join(rows) + "\n")


def start(console, csv, *, take_profit: str) -> BacktestRun:
    page = console.page
    console.go("/admin/backtest/backtestrun/add/")
    page.fill("#id_symbol", "BTC/USDT")
    page.select_option("#id_timeframe", "1m")
    page.set_input_files("#id_csv", str(csv))
    page.fill("#id_take_profit_pct", take_profit)
    page.fill("#id_other", '{"window": 120}')
    page.click("#backtest-start")
    page.wait_for_selector("#backtest-status")
    return BacktestRun.objects.order_by("-pk").first()


def test_a_backtest_starts_from_the_console_and_shows_chart_metrics_trades_and_a_comparison(
    history, console_page, tmp_path
):
    page = console_page.page
    csv = tmp_path / "candles.csv"
    candles_csv(csv)
    first = start(console_page, csv, take_profit="4.0")
    assert first.status == "done" and first.parameters["take_profit_pct"] == "4.0"
    assert "Done" in console_page.text("#backtest-status") and "900 candles" in console_page.text("#backtest-status")
    page.wait_for_selector("#chart-backtest[data-drawn]")
    assert int(page.get_attribute("#chart-backtest", "data-drawn")) == len(first.equity_curve) > 10
    assert page.locator("#chart-backtest canvas").count() >= 2  # equity pane and drawdown pane
    metrics = console_page.text("#backtest-metrics")
    assert "Total return %" in metrics and "Max drawdown %" in metrics and "Sharpe" in metrics
    trades = page.locator("#backtest-trades tbody tr")
    assert trades.count() == min(len(first.trades), 25) > 0
    assert "USDT" in console_page.text("#backtest-trades")
    console_page.shot("backtest")
    second = start(console_page, csv, take_profit="1.5")
    page.select_option("#compare-with", f"{second.pk},{first.pk}")
    page.click("#backtest-parameters input[type=submit]")
    page.wait_for_selector("#chart-compare[data-drawn]")
    header = console_page.text("#compare-table thead")
    assert f"#{first.pk}" in header and f"#{second.pk}" in header
    row = page.locator("#compare-table tr", has_text="take_profit_pct")
    assert "4.0" in row.inner_text() and "1.5" in row.inner_text()
    assert "tb-differs" in row.get_attribute("class")  # what differs between the runs stands out
    console_page.shot("backtest-compare")


def test_a_bad_backtest_request_is_refused_on_the_form_naming_the_field(history, console_page):
    page = console_page.page
    console_page.go("/admin/backtest/backtestrun/add/")
    page.fill("#id_symbol", "BTC/USDT")
    page.fill("#id_since", "2026-11-02T00:00")
    page.fill("#id_until", "2026-11-01T00:00")
    page.click("#backtest-start")
    assert "until" in page.locator(".errorlist").first.inner_text()
    assert not BacktestRun.objects.exists()
