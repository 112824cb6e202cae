"""Fills are idempotent and positions are derived from them, fees included."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from hypothesis import given, settings
from hypothesis import strategies as st

from apps.audit.actors import SYSTEM
from apps.trading.models import Order, OrderStatus, Position
from apps.trading.services import (
    FillReport,
    OrderInputError,
    fill_apply,
    new_client_order_id,
    order_create,
    order_transition,
)

pytestmark = pytest.mark.django_db
D = Decimal


def open_order(make_order, **kwargs) -> Order:
    order = make_order(**kwargs)
    order_transition(order_id=order.pk, to=OrderStatus.SUBMITTED)
    return order_transition(order_id=order.pk, to=OrderStatus.OPEN)


def report(trade_id, price, amount, fee="0", fee_currency="", at=None) -> FillReport:
    return FillReport(
        trade_id=trade_id,
        price=D(price),
        amount=D(amount),
        fee=D(fee),
        fee_currency=fee_currency,
        executed_at=at or timezone.now(),
    )


def test_client_order_id_is_valid_gate_text_and_stable_per_intent():
    cid = new_client_order_id("decision:42")
    assert cid.startswith("t-") and len(cid) == 28
    assert cid == new_client_order_id("decision:42") != new_client_order_id("decision:43")


def test_order_create_is_idempotent_per_intent(make_order):
    first = make_order(intent="decision:1")
    second = make_order(intent="decision:1")
    assert first.pk == second.pk and Order.objects.count() == 1


@pytest.mark.parametrize(
    "kwargs,field",
    [
        ({"side": "hold"}, "side"),
        ({"type": "stop"}, "type"),
        ({"amount": "-1"}, "amount"),
        ({"amount": "abc"}, "amount"),
        ({"amount": 0.1}, "amount"),
        ({"price": None}, "price"),
        ({"amount": None}, "amount"),
        ({"type": "market", "amount": None, "quote_amount": "10", "side": "sell"}, "quote_amount"),
        ({"client_order_id": "no-prefix"}, "client_order_id"),
        ({"client_order_id": "t-" + "x" * 30}, "client_order_id"),
    ],
)
def test_bad_order_input_names_the_field_and_writes_nothing(make_order, kwargs, field):
    with pytest.raises(OrderInputError) as info:
        make_order(**kwargs)
    assert info.value.field == field
    assert Order.objects.count() == 0


def test_same_trade_twice_changes_nothing(make_order):
    order = open_order(make_order, amount=D("1"))
    assert fill_apply(order=order, report=report("T1", "100", "0.5")) is not None
    assert fill_apply(order=order, report=report("T1", "100", "0.5")) is None
    order.refresh_from_db()
    assert order.filled == D("0.5") and order.status == OrderStatus.PARTIALLY_FILLED


def test_last_fill_completes_the_order(make_order):
    order = open_order(make_order, amount=D("1"))
    fill_apply(order=order, report=report("T1", "100", "0.4"))
    fill_apply(order=order, report=report("T2", "110", "0.6"))
    order.refresh_from_db()
    assert order.status == OrderStatus.FILLED
    assert order.average_price == D("106")
    assert order.cost == D("106")


def test_round_trip_position_pnl_counts_fees_in_the_currency_charged(make_order):
    t0 = timezone.now()
    buy = open_order(make_order, amount=D("1"), price="100")
    # Gate.io charges a buy's fee in the base currency received.
    fill_apply(order=buy, report=report("B1", "100", "1", fee="0.002", fee_currency="BTC", at=t0))
    position = Position.objects.get()
    assert position.amount == D("0.998") and position.status == "open"
    assert position.cost_basis == D("100")

    sell = open_order(make_order, side="sell", amount=D("0.998"), price="110", position_id=position.pk)
    # ...and a sell's fee in quote.
    fill_apply(
        order=sell,
        report=report("S1", "110", "0.998", fee="0.21956", fee_currency="USDT", at=t0 + timedelta(minutes=1)),
    )
    position.refresh_from_db()
    assert position.status == "closed"
    assert position.realized_pnl == D("109.78") - D("0.21956") - D("100")
    assert position.fees_quote == D("0.2") + D("0.21956")


def test_fees_in_a_third_currency_are_kept_aside(make_order):
    buy = open_order(make_order, amount=D("1"), price="100")
    fill_apply(order=buy, report=report("B1", "100", "1", fee="0.05", fee_currency="GT"))
    position = Position.objects.get()
    assert position.amount == D("1") and position.fees_other == {"GT": "0.0500000000000000"}


@settings(max_examples=30, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.decimals(min_value=D("0.001"), max_value=D("5"), places=3),
            st.decimals(min_value=D("1"), max_value=D("1000"), places=2),
        ),
        min_size=1,
        max_size=6,
    ),
    st.decimals(min_value=D("1"), max_value=D("1000"), places=2),
)
def test_pnl_equals_proceeds_minus_cost_when_everything_is_sold(buys, sell_price):
    """Property: after selling the whole position, realized PnL = proceeds - what the buys cost."""
    symbol = f"P{Order.objects.count()}/USDT"
    spent = sum((a * p for a, p in buys), D(0))
    total = sum((a for a, _ in buys), D(0))
    for i, (amount, price) in enumerate(buys):
        order = order_create(symbol=symbol, side="buy", type="limit", amount=amount, price=price, actor=SYSTEM)
        order_transition(order_id=order.pk, to=OrderStatus.SUBMITTED)
        fill_apply(order=order, report=report(f"{symbol}-b{i}", price, amount))
    position = Position.objects.get(symbol=symbol)
    sell = order_create(
        symbol=symbol, side="sell", type="limit", amount=total, price=sell_price, actor=SYSTEM, position_id=position.pk
    )
    order_transition(order_id=sell.pk, to=OrderStatus.SUBMITTED)
    fill_apply(order=sell, report=report(f"{symbol}-s", sell_price, total))
    position.refresh_from_db()
    assert position.status == "closed" and position.amount == 0
    assert abs(position.realized_pnl - (total * sell_price - spent)) < D("1e-12")
