"""Issue 12 item 5: amounts outside what the columns and the market can hold are a 422 naming the field,
decided before anything is written or sent."""

from __future__ import annotations

from decimal import Decimal

import pytest

from apps.audit.models import AuditLog
from apps.trading.models import Order

pytestmark = pytest.mark.django_db


def _place(trader, **body):
    payload = {"symbol": "BTC/USDT", "side": "buy", "type": "market", **body}
    return trader.post("/api/orders", payload, content_type="application/json")


def _nothing_written() -> None:
    from apps.exchange.models import PaperOrder

    assert not Order.objects.exists()
    assert not PaperOrder.objects.exists()
    assert not AuditLog.objects.filter(action__startswith="order.").exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"side": "sell", "type": "market", "amount": "9999999999999999"}, "amount"),  # the figure
        ({"side": "buy", "type": "market", "amount": "9999999999999999"}, "amount"),
        ({"side": "buy", "type": "limit", "amount": "9999999999999999", "price": "50000"}, "amount"),
        ({"side": "buy", "type": "market", "quote_amount": "9999999999999999"}, "quote_amount"),
        ({"side": "buy", "type": "limit", "amount": "1", "price": "9999999999999999"}, "price"),
        ({"side": "buy", "type": "limit", "amount": "100000000", "price": "50000"}, "amount"),  # value 5e12
        ({"side": "sell", "type": "market", "amount": "100000000"}, "amount"),  # × the ticker's 50000
    ],
)
def test_figures_beyond_the_books_are_422_naming_the_field_and_write_nothing(trader, broker, trading_on, body, field):
    response = _place(trader, **body)
    assert response.status_code == 422, response.content
    assert response.json()["field"] == field
    _nothing_written()


def test_a_market_maximum_is_enforced_before_writing(trader, broker, trading_on, monkeypatch):
    from dataclasses import dataclass

    from tests.api.fakes import MARKETS

    @dataclass(frozen=True)
    class CappedMarket:
        symbol: str = "BTC/USDT"
        max_amount: Decimal = Decimal("1000")

    monkeypatch.setattr(broker, "market", lambda symbol: CappedMarket() if symbol == "BTC/USDT" else MARKETS[symbol])
    response = _place(trader, side="buy", type="limit", amount="1001", price="1")
    assert response.status_code == 422 and response.json()["field"] == "amount"
    assert "at most 1000" in response.json()["detail"]
    _nothing_written()


def test_an_ordinary_order_still_passes(trader, broker, trading_on):
    # 80 USDT: inside the per-order cap POSITION_SIZE_USD (100) that API orders pass since issue 11
    response = _place(trader, side="buy", type="limit", amount="0.002", price="40000")
    assert response.status_code == 201, response.content


def test_order_create_refuses_a_figure_beyond_the_books_on_every_path(db):
    """Not only the API: order_create itself (the trading cycle, Telegram, the admin) refuses before writing."""
    from apps.audit.actors import SYSTEM
    from apps.trading.services import OrderInputError, order_create

    with pytest.raises(OrderInputError) as caught:
        order_create(actor=SYSTEM, symbol="BTC/USDT", side="sell", type="market", amount=Decimal("9999999999999999"))
    assert caught.value.field == "amount"
    assert not Order.objects.exists()
