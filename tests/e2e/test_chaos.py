"""Issue 11, "Done when": a chaos run. Two real workers and beat trade against the simulator for a few minutes
while a worker is killed with -9, a Redis of the test's own is stopped and restarted, and every database
connection is terminated; then the books must equal the simulator's and no order may exist twice.

PostgreSQL only (the production set-up; pg_terminate_backend is what a database failover does to us).
"""

from __future__ import annotations

import signal
import time
from decimal import Decimal

import pytest
from django.db import connection

from apps.exchange.simulator import SimulatorServer
from apps.reconciliation.models import ReconciliationRun
from apps.trading.models import Fill, Order, OrderStatus, Position
from tests.e2e.conftest import SYMBOL, uptrend_simulator, wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]
D = Decimal


def _terminate_database_connections() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return cursor.fetchone()[0]


def _rise(sim, pct: str) -> None:
    sim.set_price(SYMBOL, (sim.price(SYMBOL) * (1 + D(pct) / 100)).quantize(D("0.1")))


def test_books_equal_the_exchange_after_kills_a_redis_outage_and_dropped_connections(
    require_postgres, e2e_env, producer, workers, beats, own_redis, tmp_path
):
    sim, _clock = uptrend_simulator()
    server = SimulatorServer(sim, port=0).start()
    try:
        env = e2e_env(
            server,
            REDIS_URL=own_redis.url,
            RECONCILE_INTERVAL_SEC="15",
            EXITS_CHECK_INTERVAL_SEC="2",
            EXITS_ON_EXCHANGE="false",
            DATA_DIR=str(tmp_path / "data"),
        )
        sim.faults.set("create_order", latency_ms=3000)  # orders in flight when the faults strike
        first = workers(env)
        workers(env)
        beats(env)
        app = producer(env)

        def cycle() -> None:
            app.send_task("trading.cycle", kwargs={"symbol": SYMBOL, "timeframe": "1m"})

        def in_flight(origin: str):
            return Order.objects.filter(origin=origin, status=OrderStatus.SUBMITTED).first()

        # 1. kill -9 of a worker waiting for the exchange's answer to an entry.
        cycle()
        wait_for(lambda: in_flight("signal"), timeout=90, every=0.1, what="an entry in flight")
        first.stop(signal.SIGKILL)
        workers(env)
        wait_for(lambda: Position.objects.filter(status="open").exists(), timeout=90, what="the entry healed")

        # 2. every database connection terminated while the take-profit's order is in flight.
        _rise(sim, "5")
        wait_for(lambda: in_flight("protective_exit"), timeout=60, every=0.1, what="an exit in flight")
        terminated = _terminate_database_connections()
        wait_for(lambda: not Position.objects.filter(status="open").exists(), timeout=90, what="the exit healed")

        # 3. Redis (broker, leases, limiter, breakers) stopped for 20 s, then back; connections dropped again.
        own_redis.stop()
        time.sleep(20)
        own_redis.start()
        terminated += _terminate_database_connections()
        cycle()
        time.sleep(10)
        terminated += _terminate_database_connections()

        # Faults over: the next reconciliation runs clean and the books settle.
        sim.faults.clear()
        mark = ReconciliationRun.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
        wait_for(
            lambda: ReconciliationRun.objects.filter(pk__gt=mark, status__in=["ok", "discrepancies"]).count() >= 2,
            timeout=90,
            what="two clean reconciliations after the faults",
        )
        wait_for(
            lambda: not Order.objects.filter(status__in=[OrderStatus.NEW, OrderStatus.SUBMITTED, "unknown"]).exists(),
            timeout=60,
            what="no order left in flight",
        )
        print(f"chaos: {Order.objects.count()} orders, {terminated} database connections terminated")

        ours = list(Order.objects.exclude(exchange_order_id=None).exclude(exchange_order_id=""))
        assert ours, "the run placed no order: nothing was tested"
        exchange_orders = {str(o.id): o for o in sim.finished_orders(SYMBOL) + sim.open_orders(SYMBOL)}
        for order in ours:
            sent = sim.orders_with_text(order.client_order_id) if order.client_order_id else []
            assert len(sent) <= 1, f"{order.client_order_id} sent {len(sent)} times"
            ex = exchange_orders.get(order.exchange_order_id)
            if ex is None:
                continue  # Gate.io forgets cancelled-unfilled orders; nothing to compare
            assert order.filled == ex.filled_amount, (order.client_order_id, order.filled, ex.filled_amount)
            trades = [t for t in sim.trades(SYMBOL) if t.order_id == ex.id]
            fills = Fill.objects.filter(order=order)
            assert fills.count() == len(trades), order.client_order_id
            assert sum((f.amount for f in fills), D(0)) == sum((t.amount for t in trades), D(0))
        texts = [o.client_order_id for o in Order.objects.exclude(client_order_id=None)]
        assert len(texts) == len(set(texts)), "an intent produced two orders"
        every_exchange_order = [o for o in exchange_orders.values() if o.text.startswith("t-")]
        assert len(every_exchange_order) == len({o.text for o in every_exchange_order}), "an order was doubled"
        held = sum(sim.balance("BTC"), D(0))
        booked = sum((p.amount for p in Position.objects.filter(symbol=SYMBOL, status="open")), D(0))
        dust = D(1).scaleb(-sim.spec(SYMBOL).amount_precision)  # what a sell rounded to the step leaves behind
        assert abs(booked - held) < dust, (booked, held)
    finally:
        server.stop()
