"""CSV export from the admin (issue 15, item 1): the changelists' "Export CSV" link keeps the list's filters and
search, the "Export selected as CSV" action exports the selection, both streamed by the API's CSV writer."""

from __future__ import annotations

import csv
import io
import tracemalloc
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.urls import reverse

from tests.reports.conftest import round_trip

pytestmark = pytest.mark.django_db
D = Decimal
T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


@pytest.fixture
def staff(client, operator, settings):
    settings.MODE = "paper"
    client.force_login(operator)
    return client


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


def _csv(response) -> list[dict[str, str]]:
    assert response.status_code == 200 and response.streaming, response
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    return list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))


def test_changelists_link_an_export_that_keeps_their_filters(staff, trades):
    a, b = trades
    page = staff.get(reverse("admin:trading_fill_changelist"), {"symbol": "ETH/USDT", "side__exact": "sell"})
    link = reverse("admin:trading_fill_export") + "?symbol=ETH%2FUSDT&amp;side__exact=sell"
    assert f'href="{link}"' in page.content.decode()
    rows = _csv(staff.get(reverse("admin:trading_fill_export"), {"symbol": "ETH/USDT", "side__exact": "sell"}))
    assert [(r["symbol"], r["side"], r["price"]) for r in rows] == [("ETH/USDT", "sell", "2900")]
    assert list(rows[0])[:4] == ["id", "exchange", "exchange_trade_id", "order_id"]  # the API's columns
    everything = staff.get(reverse("admin:trading_fill_export"))
    assert everything["Content-Disposition"] == 'attachment; filename="tradebot-fills.csv"'
    assert len(_csv(everything)) == 4
    searched = _csv(staff.get(reverse("admin:trading_order_export"), {"q": a.orders.first().client_order_id}))
    assert [r["client_order_id"] for r in searched] == [a.orders.first().client_order_id]
    positions = staff.get(reverse("admin:trading_position_changelist")).content.decode()
    assert f'href="{reverse("admin:trading_position_export")}"' in positions
    trades_csv = _csv(staff.get(reverse("admin:trading_position_export")))
    assert [r["position_id"] for r in trades_csv] == [str(b.pk), str(a.pk)]  # oldest close first
    assert (
        trades_csv[1]["realized_pnl"] == f"{a.realized_pnl.normalize():f}"
        and trades_csv[0]["exit_reason"] == "operator"
    )
    # a bad filter is the changelist's own answer, not a 500
    assert staff.get(reverse("admin:trading_fill_export"), {"executed_at__gte": "not a date"}).status_code == 302


def test_action_exports_the_selected_rows(staff, trades):
    a, b = trades
    from apps.trading.models import Order

    chosen = list(Order.objects.filter(position=b).values_list("pk", flat=True))
    answer = staff.post(
        reverse("admin:trading_order_changelist"),
        {"action": "export_selected_csv", "_selected_action": chosen, "index": 0},
    )
    rows = _csv(answer)
    assert sorted(int(r["id"]) for r in rows) == sorted(chosen) and {r["symbol"] for r in rows} == {"ETH/USDT"}
    assert rows[0]["origin"] == "signal" and rows[1]["origin"] == "operator"  # oldest first


def test_export_needs_the_view_permission(client, django_user_model, trades):
    clerk = django_user_model.objects.create_user("clerk", password="clerk-pass-123", is_staff=True)
    client.force_login(clerk)
    assert client.get(reverse("admin:trading_fill_export")).status_code == 403
    anonymous = client.__class__()
    assert anonymous.get(reverse("admin:trading_fill_export")).status_code == 302


@pytest.mark.slow
def test_admin_export_of_100000_fills_is_streamed_not_loaded(staff):
    """As the API's test: 100,000 fills (bulk_create); the admin's export link answers a stream whose first line
    comes before the rows are read, and the memory traced while reading it all stays far below its size."""
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
    response = staff.get(reverse("admin:trading_fill_export"), {"symbol": "BTC/USDT"})
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
    print(f"\nadmin export {size / 1e6:.1f} MB in {lines} lines, peak traced memory {peak / 1e6:.1f} MB")
    assert peak < size / 2
