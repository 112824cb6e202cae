"""Reconciliation heals what happened on the exchange behind the bot's back."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from apps.audit.actors import SYSTEM
from apps.reconciliation.models import Discrepancy, ReconciliationRun
from apps.reconciliation.services import reconcile
from apps.trading.models import Fill, Order, OrderStatus, Origin, Position
from apps.trading.services import order_create, order_transition

pytestmark = pytest.mark.django_db

BTC = ["BTC/USDT"]


def run(broker, **kwargs):
    return reconcile(broker=broker, actor=SYSTEM, trigger="test", symbols=kwargs.pop("symbols", BTC), **kwargs)


def kinds(run: ReconciliationRun) -> list[str]:
    return sorted(run.discrepancies.values_list("kind", flat=True))


def test_heals_an_order_filled_while_the_bot_was_down(rsim, broker, place):
    order = place()
    assert order.status == OrderStatus.OPEN
    trades = rsim.fill_open_orders(order_id=order.exchange_order_id)

    result = run(broker)

    order.refresh_from_db()
    assert result.status == ReconciliationRun.Status.DISCREPANCIES
    assert (result.fixed, result.imported, result.missing) == (1, 0, 0)
    assert order.status == OrderStatus.FILLED
    assert order.filled == Decimal("0.01")
    assert sorted(order.fills.values_list("exchange_trade_id", flat=True)) == sorted(t.id for t in trades)
    assert Decimal(order.fees["BTC"]) == sum(t.fee for t in trades)
    assert Position.objects.get(symbol="BTC/USDT", status="open").amount == rsim.balance("BTC")[0]
    assert kinds(result) == ["fill"]
    assert result.discrepancies.get().fixed


def test_heals_a_partial_fill_then_a_cancel_behind_its_back(rsim, broker, place):
    order = place()
    rsim.fill_open_orders(order_id=order.exchange_order_id, ratio=Decimal("0.5"))
    rsim.cancel_behind_back(order.exchange_order_id)

    run(broker)

    order.refresh_from_db()
    assert order.status == OrderStatus.CANCELLED
    assert order.filled == Decimal("0.005")
    assert order.fills.count() == 1


def test_heals_an_order_cancelled_behind_its_back(rsim, broker, place):
    order = place()
    rsim.cancel_behind_back(order.exchange_order_id)

    result = run(broker)

    order.refresh_from_db()
    assert order.status == OrderStatus.CANCELLED
    assert kinds(result) == ["status"]
    assert result.exchange_calls <= 5


def test_an_order_cancelled_long_ago_and_forgotten_by_the_exchange_is_cancelled(rsim, broker, place):
    rsim.cancelled_retention_sec = 0  # Gate.io keeps cancelled-unfilled orders about a minute
    order = place()
    rsim.cancel_behind_back(order.exchange_order_id)
    assert not rsim.finished_orders("BTC/USDT")

    too_early = run(broker)
    order.refresh_from_db()
    assert order.status == OrderStatus.OPEN  # absence within the grace period proves nothing
    assert too_early.status == ReconciliationRun.Status.OK

    later = run(broker, now=timezone.now() + timedelta(minutes=3))
    order.refresh_from_db()
    assert order.status == OrderStatus.CANCELLED
    assert kinds(later) == ["status"]
    # From now on its absence is normal: a cancelled order with nothing filled is not flagged.
    quiet = run(broker, now=timezone.now() + timedelta(minutes=4))
    assert quiet.status == ReconciliationRun.Status.OK and quiet.missing == 0


def test_heals_an_unknown_order_the_exchange_never_received(broker):
    order = order_create(actor=SYSTEM, symbol="BTC/USDT", side="buy", type="limit", amount="0.01", price="49000")
    order_transition(order_id=order.pk, to=OrderStatus.SUBMITTED, actor=SYSTEM)
    order_transition(order_id=order.pk, to=OrderStatus.UNKNOWN, actor=SYSTEM)

    run(broker)
    order.refresh_from_db()
    assert order.status == OrderStatus.UNKNOWN  # still inside the grace period

    result = run(broker, now=timezone.now() + timedelta(minutes=3))
    order.refresh_from_db()
    assert order.status == OrderStatus.REJECTED
    assert kinds(result) == ["unknown_resolved"]


def test_heals_a_lost_create_response(rsim, broker, place):
    rsim.faults.set("create_order", drop_response_rate=1.0, times=1)
    for endpoint in ("get_order", "list_orders", "my_trades", "open_orders"):
        rsim.faults.set(endpoint, error_rate=1.0)
    order = place(type="market", side="buy", amount=None, quote_amount="500", price=None)
    assert order.status == OrderStatus.UNKNOWN
    assert order.exchange_order_id is None
    rsim.faults.clear()
    on_exchange = rsim.orders_with_text(order.client_order_id)
    assert len(on_exchange) == 1

    result = run(broker)

    order.refresh_from_db()
    assert order.exchange_order_id == on_exchange[0].id
    assert order.status == OrderStatus.FILLED
    assert order.filled == on_exchange[0].filled_amount
    assert order.fills.count() == len([t for t in rsim.trades("BTC/USDT") if t.order_id == order.exchange_order_id])
    assert kinds(result) == ["unknown_resolved"]
    assert Position.objects.get(symbol="BTC/USDT", status="open").amount == rsim.balance("BTC")[0]


def test_imports_an_order_created_by_hand_on_the_exchange(rsim, broker):
    by_hand = rsim.place_order(symbol="BTC/USDT", side="buy", type="market", amount=Decimal("1000"), text="t-web")
    resting = rsim.place_order(
        symbol="BTC/USDT", side="buy", type="limit", amount=Decimal("0.01"), price=Decimal("40000")
    )

    result = run(broker)

    assert result.imported == 2
    imported = Order.objects.get(exchange_order_id=by_hand.id)
    assert imported.origin == Origin.EXTERNAL
    assert imported.status == OrderStatus.FILLED
    assert imported.filled == by_hand.filled_amount
    assert imported.fills.count() == 1
    assert Order.objects.get(exchange_order_id=resting.id).status == OrderStatus.OPEN
    flagged = result.discrepancies.filter(kind="external")
    assert flagged.count() == 2 and not any(flagged.values_list("resolved", flat=True))
    # The balance now matches the imported fills: no balance discrepancy.
    assert not result.discrepancies.filter(kind="balance").exists()


def test_flags_a_balance_that_differs_from_positions(rsim, broker, place):
    rsim.set_balance("BTC", Decimal("0.5"))

    result = run(broker)

    flagged = result.discrepancies.get(kind="balance")
    assert flagged.details["difference"] == "0.5"
    assert not flagged.resolved
    again = run(broker)
    assert again.status == ReconciliationRun.Status.DISCREPANCIES and not again.discrepancies.exists()
    rsim.set_balance("BTC", Decimal("0"))
    run(broker)
    flagged.refresh_from_db()
    assert flagged.resolved


def test_a_second_run_changes_nothing(rsim, broker, place):
    filled = place()
    cancelled = place(price="48000")
    rsim.fill_open_orders(order_id=filled.exchange_order_id)
    rsim.cancel_behind_back(cancelled.exchange_order_id)
    rsim.place_order(symbol="BTC/USDT", side="buy", type="market", amount=Decimal("1000"))
    first = run(broker)
    assert (first.fixed, first.imported) == (2, 1)
    state = (
        list(Order.objects.order_by("pk").values_list("status", "filled", "exchange_order_id", "updated_at")),
        Fill.objects.count(),
        list(Position.objects.values_list("amount", "cost_basis")),
        Discrepancy.objects.count(),
    )

    second = run(broker)

    assert (second.fixed, second.imported, second.missing) == (0, 0, 0)
    assert second.status == ReconciliationRun.Status.OK  # the books agree; the import stays flagged for a person
    assert not second.discrepancies.exists()
    assert state == (
        list(Order.objects.order_by("pk").values_list("status", "filled", "exchange_order_id", "updated_at")),
        Fill.objects.count(),
        list(Position.objects.values_list("amount", "cost_basis")),
        Discrepancy.objects.count(),
    )


def test_a_clean_book_is_ok(rsim, broker, place):
    place()
    result = run(broker)
    assert result.status == ReconciliationRun.Status.OK
    assert result.checked == 1 and not result.discrepancies.exists()


def test_a_second_exchange_order_with_our_client_id_is_imported_and_flagged_critical(rsim, broker, place):
    ours = place()
    twin = rsim.place_order(
        symbol="BTC/USDT",
        side="buy",
        type="limit",
        amount=Decimal("0.01"),
        price=Decimal("49000"),
        text=ours.client_order_id,
    )

    result = run(broker)

    flagged = result.discrepancies.get(kind="external")
    assert flagged.exchange_order_id == twin.id and flagged.severity == "critical"
    assert "sent twice" in flagged.details["note"]
    ours.refresh_from_db()
    assert ours.status == OrderStatus.OPEN and ours.exchange_order_id != twin.id
