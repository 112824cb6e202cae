"""Issue 12 item 5 at the API: a body over DATA_UPLOAD_MAX_MEMORY_SIZE is a 413 JSON answer, not a 500,
and nothing is written."""

from __future__ import annotations

import json

import pytest

from apps.trading.models import Order

pytestmark = pytest.mark.django_db


def test_an_oversized_order_body_is_413_json(trader, broker, trading_on, settings):
    body = json.dumps(
        {
            "symbol": "BTC/USDT",
            "side": "buy",
            "type": "market",
            "quote_amount": "10",
            "pad": "x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 10),
        }
    )
    response = trader.post("/api/orders", body, content_type="application/json")
    assert response.status_code == 413
    assert response["Content-Type"].startswith("application/json") and "too large" in response.json()["detail"]
    assert not Order.objects.exists()


def test_a_body_that_grows_past_the_limit_without_a_declared_length_is_413(trader, broker, trading_on, settings):
    """Django raises RequestDataTooBig when the body is read; the API answers it as 413 too."""
    from django.core.exceptions import RequestDataTooBig
    from django.test import RequestFactory

    from apps.api.api import api
    from apps.api.errors import install  # noqa: F401 - handlers are installed on `api`

    request = RequestFactory().post("/api/orders", "{}", content_type="application/json")
    handler = api._lookup_exception_handler(RequestDataTooBig())
    response = handler(request, RequestDataTooBig())
    assert response.status_code == 413


def test_a_body_at_the_limit_is_not_refused_for_its_size(trader, broker, trading_on, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 4096
    body = json.dumps({"symbol": "BTC/USDT", "side": "buy", "type": "market", "quote_amount": "10"})
    assert trader.post("/api/orders", body, content_type="application/json").status_code == 201
