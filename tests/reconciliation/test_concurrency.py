"""Two workers reconciling at once produce one action each time (PostgreSQL, real threads)."""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest
from django.db import connection

from apps.audit.actors import SYSTEM
from apps.reconciliation.models import Discrepancy
from apps.reconciliation.services import reconcile
from apps.trading.models import Fill, Order, OrderStatus, Origin


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_runs_act_once(require_postgres, rsim, make_recon_broker, place):
    filled = [place(price=str(45000 + n)) for n in range(3)]
    cancelled = place(price="44000")
    for order in filled:
        rsim.fill_open_orders(order_id=order.exchange_order_id)
    rsim.cancel_behind_back(cancelled.exchange_order_id)
    by_hand = rsim.place_order(symbol="BTC/USDT", side="buy", type="market", amount=Decimal("1000"))
    brokers = [make_recon_broker(), make_recon_broker()]
    for b in brokers:
        b.load_markets()
    barrier = threading.Barrier(2)
    runs, errors = [], []

    def worker(broker) -> None:
        try:
            barrier.wait(timeout=10)
            runs.append(reconcile(broker=broker, actor=SYSTEM, symbols=["BTC/USDT"]))
        except Exception as exc:  # surfaced below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(b,)) for b in brokers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)

    assert not errors and len(runs) == 2
    assert all(not r.error for r in runs), [r.error for r in runs]
    assert sum(r.fixed for r in runs) == 4
    assert sum(r.imported for r in runs) == 1
    assert Order.objects.filter(origin=Origin.EXTERNAL).count() == 1
    assert Fill.objects.count() == len(rsim.trades("BTC/USDT"))
    assert Order.objects.get(exchange_order_id=by_hand.id).fills.count() == 1
    for order in [*filled, cancelled]:
        order.refresh_from_db()
        assert Discrepancy.objects.filter(order=order).count() == 1
    assert {o.status for o in filled} == {OrderStatus.FILLED}
    assert cancelled.status == OrderStatus.CANCELLED
