from __future__ import annotations

import pytest
from django.test import Client

from apps.api.models import ApiToken

pytestmark = pytest.mark.django_db


def test_missing_token_is_401():
    response = Client().get("/api/orders")
    assert response.status_code == 401
    assert response.json() == {"detail": "Unauthorized"}


def test_wrong_token_is_401(read_token):
    response = Client(HTTP_AUTHORIZATION="Bearer tb_not-a-real-token").get("/api/orders")
    assert response.status_code == 401


def test_revoked_token_is_401(revoked_token):
    response = Client(HTTP_AUTHORIZATION=f"Bearer {revoked_token[1]}").get("/api/orders")
    assert response.status_code == 401


def test_read_token_on_a_trade_operation_is_403(reader):
    response = reader.post("/api/trading/pause", content_type="application/json")
    assert response.status_code == 403
    assert "trade scope" in response.json()["detail"]


def test_trade_token_may_read(trader):
    assert trader.get("/api/orders").status_code == 200


def test_use_records_last_used_at(reader, read_token):
    assert reader.get("/api/orders").status_code == 200
    assert ApiToken.objects.get(pk=read_token[0].pk).last_used_at is not None


def test_docs_and_schema_need_no_token():
    assert Client().get("/api/openapi.json").status_code == 200
    assert Client().get("/api/docs").status_code == 200


def test_every_contract_path_is_in_the_schema():
    paths = Client().get("/api/openapi.json").json()["paths"]
    for path in (
        "/api/eval",
        "/api/why",
        "/api/orders",
        "/api/orders/{order_id}",
        "/api/orders/{order_id}/cancel",
        "/api/positions",
        "/api/positions/{position_id}/close",
        "/api/exits",
        "/api/pnl",
        "/api/reconcile",
        "/api/trading/pause",
        "/api/trading/resume",
        "/api/backtests",
        "/api/backtests/{backtest_id}",
    ):
        assert path in paths
