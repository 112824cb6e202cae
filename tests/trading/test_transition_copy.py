"""order_transition with the caller's copy (`current=`): the same rows, audit and answer as the locked path,
and a copy that is no longer the row changes nothing by itself."""

from decimal import Decimal

import pytest

from apps.audit.models import AuditLog
from apps.trading.models import Order, OrderStatus
from apps.trading.services import order_transition
from apps.trading.state import IllegalTransition

pytestmark = pytest.mark.django_db

S = OrderStatus
SKIP = {"id", "client_order_id", "intent", "created_at", "updated_at", "submitted_at", "last_exchange_update_at"}


def fields(order: Order) -> dict[str, str]:
    return {f.attname: str(getattr(order, f.attname)) for f in Order._meta.concrete_fields if f.attname not in SKIP}


def audit_trail(order: Order) -> list[tuple]:
    rows = AuditLog.objects.filter(object_id=str(order.pk)).order_by("id")
    return [(a.action, a.before, a.after, a.message) for a in rows.filter(action__startswith="order.transition")]


def walk(order: Order, *, with_copy: bool) -> Order:
    copy = Order.objects.get(pk=order.pk) if with_copy else None
    steps = [
        (S.SUBMITTED, {"amount": Decimal("0.0100"), "price": Decimal("50000.0")}),
        (S.OPEN, {"exchange_order_id": f"x-{order.pk}", "last_error": ""}),
    ]
    for to, changes in steps:
        copy = order_transition(order_id=order.pk, to=to, reason="step", current=copy if with_copy else None, **changes)
    return copy


def test_a_copy_gives_the_same_order_and_audit_as_the_locked_path(make_order):
    locked_order, copied_order = make_order(), make_order()
    locked = walk(locked_order, with_copy=False)
    copied = walk(copied_order, with_copy=True)

    assert {**fields(copied), "exchange_order_id": ""} == {**fields(locked), "exchange_order_id": ""}
    assert fields(copied) == fields(Order.objects.get(pk=copied_order.pk))
    assert copied.updated_at == Order.objects.get(pk=copied_order.pk).updated_at
    assert copied.submitted_at == Order.objects.get(pk=copied_order.pk).submitted_at

    def without_ids(trail):
        return [(a, b, {**after, "exchange_order_id": None}, m) for a, b, after, m in trail]

    assert without_ids(audit_trail(copied_order)) == without_ids(audit_trail(locked_order))


def test_a_stale_copy_is_read_again_and_the_audit_shows_the_row(make_order):
    order = make_order()
    order_transition(order_id=order.pk, to=S.SUBMITTED)
    stale = order_transition(order_id=order.pk, to=S.OPEN)
    order_transition(order_id=order.pk, to=S.PARTIALLY_FILLED, filled=Decimal("0.004"))  # someone else

    done = order_transition(order_id=order.pk, to=S.FILLED, current=stale)

    assert done.status == S.FILLED and done.filled == Decimal("0.004")
    last = AuditLog.objects.filter(object_id=str(order.pk), action="order.transition").order_by("-id").first()
    assert last.before["status"] == S.PARTIALLY_FILLED


def test_a_stale_copy_cannot_make_an_illegal_move(make_order):
    order = make_order()
    order_transition(order_id=order.pk, to=S.SUBMITTED)
    stale = order_transition(order_id=order.pk, to=S.OPEN)
    order_transition(order_id=order.pk, to=S.FILLED)  # someone else

    with pytest.raises(IllegalTransition):
        order_transition(order_id=order.pk, to=S.CANCELLED, current=stale)

    assert Order.objects.get(pk=order.pk).status == S.FILLED
    assert AuditLog.objects.filter(object_id=str(order.pk), action="order.transition_refused").count() == 1


def test_the_callers_copy_is_not_changed(make_order):
    order = make_order()
    copy = Order.objects.get(pk=order.pk)
    order_transition(order_id=order.pk, to=S.SUBMITTED, current=copy, amount=Decimal("0.02"))
    assert copy.status == S.NEW and copy.amount == Decimal("0.01")
