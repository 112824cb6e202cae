"""The one order state machine: legal moves pass, illegal ones are refused and audited."""

from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apps.audit.actors import SYSTEM
from apps.audit.models import AuditLog
from apps.trading.models import Order, OrderStatus
from apps.trading.services import order_transition
from apps.trading.state import TRANSITIONS, IllegalTransition, check_transition, is_allowed

S = OrderStatus
ALL = list(S.values)
TERMINAL = [S.FILLED, S.CANCELLED, S.REJECTED, S.EXPIRED]


def test_happy_path_is_allowed():
    path = [S.NEW, S.SUBMITTED, S.OPEN, S.PARTIALLY_FILLED, S.FILLED]
    for current, target in zip(path, path[1:], strict=False):
        check_transition(current, target)


@pytest.mark.parametrize("terminal", TERMINAL)
def test_terminal_states_have_no_way_out(terminal):
    assert not any(is_allowed(terminal, t, by_reconciliation=True) for t in ALL)


def test_only_reconciliation_resolves_unknown():
    with pytest.raises(IllegalTransition, match="only reconciliation"):
        check_transition(S.UNKNOWN, S.FILLED)
    check_transition(S.UNKNOWN, S.FILLED, by_reconciliation=True)


def test_orders_never_go_back_to_new_or_submitted():
    for current in ALL:
        assert not is_allowed(current, S.NEW, by_reconciliation=True)
        if current != S.NEW:
            assert not is_allowed(current, S.SUBMITTED, by_reconciliation=True)


@given(st.lists(st.sampled_from(ALL), max_size=20), st.booleans())
def test_any_walk_respects_the_table(targets, by_reconciliation):
    """Property: following only allowed moves, a terminal state is never left and 'new' never returns."""
    current = S.NEW
    seen_terminal = False
    for target in targets:
        if is_allowed(current, target, by_reconciliation=by_reconciliation):
            assert target in TRANSITIONS[current]
            assert not seen_terminal
            current = target
            seen_terminal = current in TERMINAL
    assert (current in TERMINAL) == seen_terminal


@pytest.mark.django_db
def test_transition_is_audited_with_before_and_after(make_order):
    order = make_order()
    order_transition(order_id=order.pk, to=S.SUBMITTED, actor=SYSTEM)
    row = AuditLog.objects.filter(action="order.transition", object_id=str(order.pk)).get()
    assert row.before["status"] == "new" and row.after["status"] == "submitted"
    assert Order.objects.get(pk=order.pk).submitted_at is not None


@pytest.mark.django_db
def test_illegal_transition_is_refused_audited_and_changes_nothing(make_order):
    order = make_order()
    with pytest.raises(IllegalTransition):
        order_transition(order_id=order.pk, to=S.FILLED, actor=SYSTEM, filled=Decimal("1"))
    fresh = Order.objects.get(pk=order.pk)
    assert fresh.status == S.NEW and fresh.filled == 0
    assert AuditLog.objects.filter(action="order.transition_refused", object_id=str(order.pk)).count() == 1


@pytest.mark.django_db
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.sampled_from(ALL), min_size=1, max_size=8))
def test_database_status_always_follows_the_table(make_order, targets):
    """Property on real rows: whatever sequence is attempted, the stored history is a legal path."""
    order = make_order()
    history = [order.status]
    for target in targets:
        try:
            order_transition(order_id=order.pk, to=target, actor=SYSTEM)
        except IllegalTransition:
            pass
        history.append(Order.objects.get(pk=order.pk).status)
    for current, target in zip(history, history[1:], strict=False):
        assert current == target or target in TRANSITIONS[current]
