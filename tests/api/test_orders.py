from __future__ import annotations

from decimal import Decimal

import pytest

from apps.audit.models import AuditLog
from apps.trading.models import Order

pytestmark = pytest.mark.django_db


def test_list_is_paginated_newest_first(reader, make_order):
    orders = [make_order() for _ in range(5)]
    body = reader.get("/api/orders?limit=2&offset=1").json()
    assert body["count"] == 5 and body["limit"] == 2 and body["offset"] == 1
    assert [o["id"] for o in body["items"]] == [orders[3].pk, orders[2].pk]


def test_list_filters_by_symbol_and_status(reader, make_order):
    make_order(symbol="ETH/USDT", price=Decimal("3000"))
    make_order()
    body = reader.get("/api/orders?symbol=ETH/USDT&status=new").json()
    assert body["count"] == 1 and body["items"][0]["symbol"] == "ETH/USDT"
    assert reader.get("/api/orders?status=filled").json()["count"] == 0


def test_list_rejects_an_unknown_status_naming_the_field(reader):
    response = reader.get("/api/orders?status=bogus")
    assert response.status_code == 422
    assert response.json()["field"] == "status"


def test_detail_gives_decimals_as_strings(reader, make_order):
    order = make_order(amount=Decimal("0.0125"))
    body = reader.get(f"/api/orders/{order.pk}").json()
    assert body["amount"] == "0.0125" and body["price"] == "50000" and body["filled"] == "0"


def test_detail_of_an_unknown_id_is_404(reader):
    response = reader.get("/api/orders/999999")
    assert response.status_code == 404
    assert response.json() == {"detail": "not found"}


def test_place_creates_and_submits_audited_as_the_token(trader, trade_token, broker, trading_on):
    response = trader.post(
        "/api/orders",
        {"symbol": "BTC/USDT", "side": "buy", "type": "market", "quote_amount": "100"},
        content_type="application/json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == "filled" and body["origin"] == "operator" and Decimal(body["filled"]) > 0
    assert AuditLog.objects.filter(action="order.create", actor_type="api", actor_id=str(trade_token[0].pk)).exists()


def test_place_with_a_bad_amount_is_422_naming_it(trader, broker, trading_on):
    response = trader.post(
        "/api/orders",
        {"symbol": "BTC/USDT", "side": "buy", "type": "market", "amount": "-1"},
        content_type="application/json",
    )
    assert response.status_code == 422 and response.json()["field"] == "amount"


def test_place_refuses_a_float_amount(trader, broker, trading_on):
    response = trader.post(
        "/api/orders",
        {"symbol": "BTC/USDT", "side": "buy", "type": "market", "amount": 0.001},
        content_type="application/json",
    )
    assert response.status_code == 422 and response.json()["field"] == "amount"


def test_limit_without_price_is_422_naming_price(trader, broker, trading_on):
    response = trader.post(
        "/api/orders",
        {"symbol": "BTC/USDT", "side": "buy", "type": "limit", "amount": "0.001"},
        content_type="application/json",
    )
    assert response.status_code == 422 and response.json()["field"] == "price"
    assert not Order.objects.exists()


def test_place_while_trading_is_off_is_409_and_creates_nothing(trader, broker):
    response = trader.post(
        "/api/orders",
        {"symbol": "BTC/USDT", "side": "buy", "type": "market", "amount": "0.001"},
        content_type="application/json",
    )
    assert response.status_code == 409 and "trading is off" in response.json()["detail"]
    assert not Order.objects.exists()


def test_malformed_json_is_4xx_not_500(trader, broker, trading_on):
    response = trader.post("/api/orders", "{not json", content_type="application/json")
    assert 400 <= response.status_code < 500


def test_cancel_a_new_order(trader, make_order, broker):
    order = make_order()
    response = trader.post(f"/api/orders/{order.pk}/cancel")
    assert response.status_code == 200 and response.json()["status"] == "cancelled"
    assert AuditLog.objects.filter(action="order.transition", actor_type="api").exists()


def test_cancel_a_finished_order_is_409(trader, make_order, broker):
    order = make_order()
    trader.post(f"/api/orders/{order.pk}/cancel")
    assert trader.post(f"/api/orders/{order.pk}/cancel").status_code == 409


def test_cancel_an_unknown_order_is_404(trader, broker):
    assert trader.post("/api/orders/424242/cancel").status_code == 404
