"""The operator's close at market: the same one-exit-per-position path, reason `operator`."""

from decimal import Decimal

import pytest

from apps.audit.actors import SYSTEM, Actor
from apps.audit.models import AuditLog
from apps.exits.models import ProtectiveExit
from apps.exits.services import PositionNotOpen, exits_check, position_close
from apps.trading.models import Order

from .conftest import open_position

pytestmark = pytest.mark.django_db


def test_close_at_market_sells_the_whole_position(broker, buy, alerts, operator):
    buy(quote="1000")
    position = open_position()
    actor = Actor.user(operator)

    order = position_close(position=position, broker=broker, actor=actor)

    exit = ProtectiveExit.objects.get()
    position.refresh_from_db()
    assert order.side == "sell" and order.type == "market" and order.status == "filled"
    assert order.filled == order.amount
    assert exit.status == "filled" and exit.trigger_reason == "operator" and exit.exit_order_id == order.pk
    assert position.status == "closed"
    assert AuditLog.objects.filter(action="position.close", actor_id=str(operator.pk)).exists()
    assert [a["kind"] for a in alerts] == ["exit_filled"]


def test_close_rounds_the_amount_down_to_the_market_precision(broker, buy):
    buy(quote="1234.56")
    position = open_position()
    order = position_close(position=position, broker=broker, actor=SYSTEM)
    assert order.amount == position.amount.quantize(Decimal("0.000001"), rounding="ROUND_DOWN")
    assert order.amount <= position.amount


def test_closing_a_closed_position_is_refused_clearly(broker, buy):
    buy(quote="1000")
    position = open_position()
    position_close(position=position, broker=broker, actor=SYSTEM)

    with pytest.raises(PositionNotOpen, match="already closed"):
        position_close(position=position, broker=broker, actor=SYSTEM)
    assert Order.objects.filter(side="sell").count() == 1


def test_close_while_a_stop_loss_is_selling_follows_that_exit(broker, buy, sim, monkeypatch):
    buy(quote="1000")
    exit = ProtectiveExit.objects.get()
    from apps.exits import orders

    # The sale is still in flight: not placed with the pass's others, and its order not sent yet.
    monkeypatch.setattr(orders, "orders_place_many", lambda **kwargs: [None] * len(kwargs["orders"]))
    monkeypatch.setattr(orders, "order_submit", lambda **kwargs: kwargs["order"])
    sim.set_price("BTC/USDT", exit.stop_loss_price - Decimal("10"))
    exits_check(broker=broker, actor=SYSTEM)
    monkeypatch.undo()

    order = position_close(position=open_position(), broker=broker, actor=SYSTEM)

    exit.refresh_from_db()
    assert order.intent == f"exit:{exit.pk}:1" and exit.trigger_reason == "stop_loss"
    assert exit.status == "filled" and Order.objects.filter(side="sell").count() == 1
