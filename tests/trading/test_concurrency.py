"""Two workers racing for the same transition: exactly one wins (row lock), on the real database."""

from decimal import Decimal

import pytest

from apps.audit.actors import SYSTEM
from apps.audit.models import AuditLog
from apps.trading.models import Fill, Order, OrderStatus
from apps.trading.services import FillReport, fill_apply, order_transition
from apps.trading.state import IllegalTransition
from tests.concurrency import race


@pytest.mark.django_db(transaction=True)
def test_exactly_one_of_two_racing_cancellations_wins(make_order, require_postgres):
    order = make_order()
    order_transition(order_id=order.pk, to=OrderStatus.SUBMITTED)
    order_transition(order_id=order.pk, to=OrderStatus.OPEN)
    targets = [OrderStatus.CANCELLED, OrderStatus.FILLED]

    results = race(2, lambda i: order_transition(order_id=order.pk, to=targets[i], actor=SYSTEM))

    wins = [r for r in results if isinstance(r, Order)]
    losses = [r for r in results if isinstance(r, IllegalTransition)]
    assert len(wins) == 1 and len(losses) == 1, results
    assert Order.objects.get(pk=order.pk).status == wins[0].status


@pytest.mark.django_db(transaction=True)
def test_same_trade_applied_by_four_workers_is_recorded_once(make_order):
    order = make_order(amount=Decimal("1"))
    order_transition(order_id=order.pk, to=OrderStatus.SUBMITTED)
    order_transition(order_id=order.pk, to=OrderStatus.OPEN)
    from django.utils import timezone

    report = FillReport(trade_id="T1", price=Decimal("50000"), amount=Decimal("0.4"), executed_at=timezone.now())
    results = race(4, lambda i: fill_apply(order=order, report=report))

    assert sum(isinstance(r, Fill) for r in results) == 1, results
    assert not any(isinstance(r, Exception) for r in results), results
    fresh = Order.objects.get(pk=order.pk)
    assert fresh.filled == Decimal("0.4") and fresh.status == OrderStatus.PARTIALLY_FILLED


@pytest.mark.django_db(transaction=True)
def test_two_callers_holding_the_same_copy_race_and_exactly_one_wins(make_order, require_postgres):
    order = make_order()
    order_transition(order_id=order.pk, to=OrderStatus.SUBMITTED)
    copy = order_transition(order_id=order.pk, to=OrderStatus.OPEN)
    targets = [OrderStatus.CANCELLED, OrderStatus.FILLED]

    results = race(2, lambda i: order_transition(order_id=order.pk, to=targets[i], current=copy))

    wins = [r for r in results if isinstance(r, Order)]
    losses = [r for r in results if isinstance(r, IllegalTransition)]
    assert len(wins) == 1 and len(losses) == 1, results
    assert Order.objects.get(pk=order.pk).status == wins[0].status
    actions = AuditLog.objects.filter(object_id=str(order.pk)).values_list("action", flat=True)
    assert list(actions).count("order.transition_refused") == 1


@pytest.mark.django_db(transaction=True)
def test_two_first_buys_filling_at_once_share_one_position(make_order, require_postgres):
    """The partial unique index allows one open position per venue and symbol: two first buys whose fills
    arrive at the same moment must both land in it, not fail the second fill with an IntegrityError."""
    from django.utils import timezone

    from apps.trading.models import Position

    orders = [make_order(amount=Decimal("0.01"), client_order_id=f"t-race-{i}") for i in range(2)]
    for order in orders:
        order_transition(order_id=order.pk, to=OrderStatus.SUBMITTED)
        order_transition(order_id=order.pk, to=OrderStatus.OPEN)
    now = timezone.now()

    results = race(
        2,
        lambda i: fill_apply(
            order=orders[i],
            report=FillReport(trade_id=f"R{i}", price=Decimal("50000"), amount=Decimal("0.01"), executed_at=now),
        ),
    )

    assert all(isinstance(r, Fill) for r in results), results
    open_positions = Position.objects.filter(symbol="BTC/USDT", status=Position.Status.OPEN)
    assert open_positions.count() == 1
    assert Fill.objects.filter(order__position=open_positions.get()).count() == 2
