"""Issue 11 — POST /api/orders is safe to retry (Deliver 4: a client_order_id that exists returns that order,
200; a different request under it is refused, 409) and passes the risk rules (Deliver 7: position size as a
per-order cap, max positions, trading hours, unresolved discrepancies; a refusal is 409 naming the rule and a
RiskEvent; closing a position is never blocked). The order is filled by the paper broker (our database)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from apps.audit.actors import SYSTEM
from apps.exchange.models import PaperOrder
from apps.reconciliation.models import Discrepancy, ReconciliationRun
from apps.risk.models import RiskEvent
from apps.trading.models import Order, Position
from tradebot.config import parse_hours

pytestmark = pytest.mark.django_db

BUY = {"symbol": "BTC/USDT", "side": "buy", "type": "market", "quote_amount": "50", "client_order_id": "t-retry-1"}


def post(client, body):
    return client.post("/api/orders", body, content_type="application/json")


@pytest.fixture(autouse=True)
def _limits(settings):  # all through `settings` (mixing it with override_settings unwinds out of order)
    settings.ENABLE_TRADING, settings.MODE = True, "paper"
    settings.POSITION_SIZE_USD = Decimal("100")
    settings.MAX_POSITIONS = 3
    settings.RISK_HOURS_UTC = parse_hours("00:00-24:00")


def test_a_new_order_is_201_and_says_its_venue(trader, broker):
    response = post(trader, BUY)
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == "filled" and body["venue"] == "paper" and body["client_order_id"] == "t-retry-1"


def test_a_retry_with_the_same_client_order_id_is_200_with_that_order_and_sends_nothing_more(trader, broker):
    first = post(trader, BUY)
    retry = post(trader, {**BUY, "quote_amount": "50.00"})  # the same request, written differently
    assert (first.status_code, retry.status_code) == (201, 200), retry.content
    assert retry.json()["id"] == first.json()["id"] and retry.json()["status"] == "filled"
    assert Order.objects.count() == 1 and PaperOrder.objects.count() == 1


def test_the_same_client_order_id_with_a_different_request_is_409_naming_it(trader, broker):
    assert post(trader, BUY).status_code == 201
    response = post(trader, {**BUY, "quote_amount": "60"})
    assert response.status_code == 409 and response.json()["field"] == "client_order_id"
    assert "different request" in response.json()["detail"] and "t-retry-1" in response.json()["detail"]
    assert Order.objects.count() == 1 and PaperOrder.objects.count() == 1


def test_a_client_order_id_of_the_other_books_is_409(trader, broker):
    from apps.trading.services import order_create

    order_create(
        symbol="BTC/USDT",
        side="buy",
        type="market",
        quote_amount="50",
        client_order_id="t-retry-1",
        venue="live",
        actor=SYSTEM,
    )
    response = post(trader, BUY)
    assert response.status_code == 409 and "live books" in response.json()["detail"]
    assert PaperOrder.objects.count() == 0


def test_a_retry_of_an_order_left_new_sends_it_once(trader, broker):
    """An interrupted first attempt (recorded, not sent) is completed by the retry, not doubled."""
    from apps.trading.placing import fingerprint
    from apps.trading.services import order_create

    body = {k: v for k, v in BUY.items() if k != "client_order_id"}
    order_create(
        **body,
        client_order_id="t-retry-1",
        venue="paper",
        origin="operator",
        actor=SYSTEM,
        request_fingerprint=fingerprint(**body, amount=None, price=None),
    )
    response = post(trader, BUY)
    assert response.status_code == 200 and response.json()["status"] == "filled"
    assert post(trader, BUY).status_code == 200
    assert PaperOrder.objects.count() == 1


def _refused(response, rule: str) -> None:
    assert response.status_code == 409, response.content
    body = response.json()
    assert body["rule"] == rule and rule in body["detail"]
    event = RiskEvent.objects.get(pk=body["risk_event_id"])
    assert event.rule == rule and event.symbol == "BTC/USDT"
    assert not Order.objects.exists() and not PaperOrder.objects.exists()


def test_an_order_above_the_position_size_cap_is_409_position_size(trader, broker):
    _refused(post(trader, {**BUY, "quote_amount": "150"}), "position_size")


def test_a_limit_order_is_capped_at_its_own_price(trader, broker):
    order = {"symbol": "BTC/USDT", "side": "buy", "type": "limit", "amount": "0.003", "price": "40000"}
    _refused(post(trader, order), "position_size")  # 120 USDT
    assert post(trader, {**order, "amount": "0.002"}).status_code == 201  # 80 USDT


def test_an_order_past_max_positions_is_409_max_positions(trader, broker, settings):
    settings.MAX_POSITIONS = 1
    Position.objects.create(symbol="ETH/USDT", venue="paper", amount=Decimal("1"), opened_at="2026-12-01T00:00Z")
    _refused(post(trader, BUY), "max_positions")


def test_a_live_position_does_not_count_against_paper_api_orders(trader, broker, settings):
    settings.MAX_POSITIONS = 1
    Position.objects.create(symbol="ETH/USDT", venue="live", amount=Decimal("1"), opened_at="2026-12-01T00:00Z")
    assert post(trader, BUY).status_code == 201


def test_an_order_outside_the_trading_hours_is_409_trading_hours(trader, broker, settings):
    from django.utils import timezone

    hour = (timezone.now().hour + 2) % 24
    settings.RISK_HOURS_UTC = parse_hours(f"{hour:02d}:00-{(hour + 1) % 24:02d}:00")
    _refused(post(trader, BUY), "trading_hours")


def test_an_order_on_a_symbol_with_unresolved_discrepancies_is_409(trader, broker):
    from django.utils import timezone

    run = ReconciliationRun.objects.create(started_at=timezone.now(), venue="paper")
    Discrepancy.objects.create(run=run, symbol="BTC/USDT", kind="balance", details={})
    _refused(post(trader, BUY), "unresolved_discrepancies")


def test_a_live_discrepancy_does_not_block_paper_orders(trader, broker):
    from django.utils import timezone

    run = ReconciliationRun.objects.create(started_at=timezone.now(), venue="live")
    Discrepancy.objects.create(run=run, symbol="BTC/USDT", kind="balance", details={})
    assert post(trader, BUY).status_code == 201


def test_closing_a_position_is_never_blocked_not_even_by_the_kill_switch(trader, broker, settings):
    from apps.risk.services import trading_pause

    assert post(trader, BUY).status_code == 201
    position = Position.objects.get(status="open")
    trading_pause(actor=SYSTEM, reason="test")
    settings.RISK_HOURS_UTC = parse_hours("00:00-00:01")
    sell = {"symbol": "BTC/USDT", "side": "sell", "type": "market", "amount": format(position.amount.normalize(), "f")}
    response = post(trader, sell)
    assert response.status_code == 201, response.content
    position.refresh_from_db()
    assert position.status == "closed"
    assert post(trader, {**BUY, "client_order_id": "t-retry-2"}).json()["rule"] == "trading_gate"


def test_selling_with_no_position_is_409_no_position(trader, broker):
    response = post(trader, {"symbol": "BTC/USDT", "side": "sell", "type": "market", "amount": "0.001"})
    assert response.status_code == 409 and response.json()["rule"] == "no_position"
