from __future__ import annotations

from decimal import Decimal

import pytest
from django.utils import timezone

from apps.trading.models import Position

pytestmark = pytest.mark.django_db


def _position(symbol: str = "BTC/USDT", status: str = "open", **kwargs) -> Position:
    return Position.objects.create(
        symbol=symbol,
        status=status,
        amount=Decimal("0.002"),
        average_entry_price=Decimal("49000"),
        cost_basis=Decimal("98"),
        opened_at=timezone.now(),
        **kwargs,
    )


def test_positions_list_filters(reader):
    _position()
    _position("ETH/USDT", status="closed", closed_at=timezone.now(), realized_pnl=Decimal("1.5"))
    body = reader.get("/api/positions?status=open").json()
    assert body["count"] == 1 and body["items"][0]["amount"] == "0.002"
    assert reader.get("/api/positions?symbol=ETH/USDT").json()["items"][0]["realized_pnl"] == "1.5"


def test_close_a_closed_position_is_409(trader, broker):
    position = _position(status="closed", closed_at=timezone.now())
    assert trader.post(f"/api/positions/{position.pk}/close").status_code in (409, 503)


def test_close_an_unknown_position_is_404_or_unavailable(trader, broker):
    assert trader.post("/api/positions/31337/close").status_code in (404, 503)


def test_exits_list_is_paginated(reader):
    body = reader.get("/api/exits?limit=10").json()
    assert body == {"count": 0, "limit": 10, "offset": 0, "items": []}


def test_pnl_prices_open_positions(reader, broker):
    _position()
    _position("ETH/USDT", status="closed", closed_at=timezone.now(), realized_pnl=Decimal("2"))
    body = reader.get("/api/pnl").json()
    assert body["realized_pnl"] == "2" and body["unrealized_priced"] is True
    assert Decimal(body["unrealized_pnl"]) == Decimal("0.002") * Decimal("50000") - Decimal("98")


def test_pnl_rejects_a_malformed_symbol(reader):
    response = reader.get("/api/pnl?symbol=nope")
    assert response.status_code == 422 and response.json()["field"] == "symbol"
