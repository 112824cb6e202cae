"""GET /api/reports/* and the streamed CSV export (issue 15, items 1 and 3), over trades made by the core."""

from __future__ import annotations

import csv
import io
import tracemalloc
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.test import Client

from tests.reports.conftest import round_trip

pytestmark = pytest.mark.django_db
D = Decimal
T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


@pytest.fixture
def trades():
    a = round_trip(buy="50000", sell="51000", opened=T0 - timedelta(hours=2), closed=T0 - timedelta(hours=1))
    b = round_trip(
        symbol="ETH/USDT",
        buy="3000",
        sell="2900",
        amount="0.1",
        opened=T0 - timedelta(hours=5),
        closed=T0 - timedelta(hours=4),
        rule="mean_revert",
        exit_origin="operator",
    )
    return a, b


def test_reports_need_a_token(client):
    for path in ("/api/reports/balances", "/api/reports/pnl", "/api/reports/trades", "/api/exports/fills.csv"):
        assert client.get(path).status_code == 401, path


def test_balances_report_values_the_paper_account(reader, broker, settings):
    settings.MODE = "paper"
    body = reader.get("/api/reports/balances").json()
    assert body["source"] == "paper account" and body["quote"] == "USDT"
    [usdt] = body["items"]
    assert usdt["currency"] == "USDT" and usdt["price"] == "1" and body["total_quote"] == usdt["quote_value"]


def test_pnl_per_period_in_a_time_zone(reader, trades):
    a, b = trades
    body = reader.get("/api/reports/pnl", {"period": "month", "count": 2, "tz": "Europe/Berlin"}).json()
    assert body["period"] == "month" and body["time_zone"] == "Europe/Berlin"
    assert len(body["items"]) == 2
    march = [i for i in body["items"] if i["start"] == "2026-03-01"]
    if march:  # the test clock is the wall clock: March 2026 is only in the window while it is recent
        assert D(march[0]["realized_pnl"]) == a.realized_pnl + b.realized_pnl
    bad = reader.get("/api/reports/pnl", {"tz": "Mars/Olympus"})
    assert bad.status_code == 422 and "unknown time zone" in bad.json()["detail"]
    assert reader.get("/api/reports/pnl", {"period": "year"}).status_code == 422
    assert reader.get("/api/reports/pnl", {"count": 0}).status_code == 422


def test_performance_per_entry_rule(reader, trades):
    a, b = trades
    body = reader.get("/api/reports/performance", {"by": "entry_rule"}).json()
    assert body["by"] == "entry_rule"
    rows = {r["key"]: r for r in body["items"]}
    assert rows["trend_follow"]["trades"] == 1 and D(rows["trend_follow"]["pnl"]) == a.realized_pnl
    assert rows["mean_revert"]["win_rate"] == "0" and D(rows["mean_revert"]["average"]) == b.realized_pnl
    reasons = reader.get("/api/reports/performance", {"by": "exit_reason"}).json()["items"]
    assert {r["key"] for r in reasons} == {"signal", "operator"}


def test_closed_trades_are_paginated(reader, trades):
    a, b = trades
    body = reader.get("/api/reports/trades", {"limit": 1}).json()
    assert (body["count"], body["limit"], body["offset"]) == (2, 1, 0)
    [row] = body["items"]
    assert row["position_id"] == a.pk and row["entry_price"] == "50000" and row["exit_price"] == "51000"
    assert D(row["fees_quote"]) == a.fees_quote and D(row["realized_pnl"]) == a.realized_pnl
    second = reader.get("/api/reports/trades", {"limit": 1, "offset": 1}).json()["items"]
    assert [r["position_id"] for r in second] == [b.pk]
    assert reader.get("/api/reports/trades", {"symbol": "eth_usdt"}).json()["count"] == 1


def _csv(response) -> list[dict[str, str]]:
    assert response.streaming
    return list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))


def test_csv_export_of_trades_fills_and_orders(reader, trades):
    a, b = trades
    trades_csv = _csv(reader.get("/api/exports/trades.csv"))
    assert [r["position_id"] for r in trades_csv] == [str(b.pk), str(a.pk)]  # oldest close first
    assert trades_csv[1]["realized_pnl"] == f"{a.realized_pnl.normalize():f}"
    assert trades_csv[1]["entry_rule"] == "trend_follow"
    fills = _csv(reader.get("/api/exports/fills.csv", {"symbol": "BTC/USDT"}))
    assert [r["side"] for r in fills] == ["buy", "sell"] and fills[0]["fee_currency"] == "USDT"
    orders = reader.get("/api/exports/orders.csv")
    assert orders["Content-Type"].startswith("text/csv")
    assert orders["Content-Disposition"] == 'attachment; filename="tradebot-orders.csv"'
    assert len(_csv(orders)) == 4
    since = (T0 - timedelta(hours=3)).isoformat()
    assert len(_csv(reader.get("/api/exports/fills.csv", {"since": since}))) == 2
    assert reader.get("/api/exports/positions.csv").status_code in (404, 422)
    for far in ("0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"):
        answer = reader.get("/api/exports/fills.csv", {"since": far})
        assert answer.status_code == 422 and "since must be between" in answer.json()["detail"]


@pytest.mark.slow
def test_csv_export_of_100000_fills_is_streamed_not_loaded(read_token):
    """100,000 fills made with bulk_create: the answer is a stream whose first line comes before the rows are
    read, and the memory used while streaming all of it stays far below the size of the export."""
    from apps.audit.actors import SYSTEM
    from apps.trading.models import Fill
    from apps.trading.services import order_create

    order = order_create(symbol="BTC/USDT", side="buy", type="limit", amount=D("1000"), price=D("50000"), actor=SYSTEM)
    n = 100_000
    for start in range(0, n, 10_000):
        Fill.objects.bulk_create(
            Fill(
                exchange_trade_id=f"B{i}",
                order=order,
                symbol="BTC/USDT",
                side="buy",
                price=D("50000.12345678"),
                amount=D("0.01"),
                cost=D("500.0012345678"),
                fee=D("1.0000024691"),
                fee_currency="USDT",
                is_maker=i % 2 == 0,
                executed_at=T0 + timedelta(seconds=i),
            )
            for i in range(start, start + 10_000)
        )
    client = Client(HTTP_AUTHORIZATION=f"Bearer {read_token[1]}")
    response = client.get("/api/exports/fills.csv")
    assert response.status_code == 200 and response.streaming
    chunks = iter(response.streaming_content)
    assert next(chunks).startswith(b"id,exchange,exchange_trade_id,order_id")
    tracemalloc.start()
    try:
        size = lines = 0
        for chunk in chunks:
            size += len(chunk)
            lines += 1
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert lines == n
    assert size > 10_000_000
    # the whole export as Python rows would take several times its text size; streamed, a chunk at a time
    print(f"\nexport {size / 1e6:.1f} MB in {lines} lines, peak traced memory {peak / 1e6:.1f} MB")
    assert peak < size / 2
