from __future__ import annotations

import pytest

from apps.signals.models import Decision

pytestmark = pytest.mark.django_db


def test_eval_decides_without_acting(reader, broker):
    response = reader.get("/api/eval?symbol=BTC/USDT&timeframe=1m&limit=200")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["action"] in ("buy", "sell", "hold") and body["source"] == "api"
    assert isinstance(body["price"], str)
    assert Decision.objects.get(pk=body["id"]).executed is False


def test_eval_with_a_bad_timeframe_is_422(reader, broker):
    response = reader.get("/api/eval?symbol=BTC/USDT&timeframe=2m")
    assert response.status_code == 422 and response.json()["field"] == "timeframe"


def test_eval_of_an_unknown_market_is_422(reader, broker):
    response = reader.get("/api/eval?symbol=NOPE/USDT")
    assert response.status_code == 422


def test_why_explains_the_latest_decision(reader, broker):
    first = reader.get("/api/eval?symbol=BTC/USDT").json()
    body = reader.get("/api/why?symbol=BTC/USDT").json()
    assert body["id"] == first["id"] and body["fresh"] is False and body["features"]


def test_why_with_no_decision_evaluates_fresh(reader, broker):
    body = reader.get("/api/why?symbol=ETH/USDT").json()
    assert body["fresh"] is True and body["symbol"] == "ETH/USDT"
