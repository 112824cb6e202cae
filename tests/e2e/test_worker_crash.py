"""kill -9 of a worker in the middle of placing an order, then a restart: nothing lost, nothing doubled."""

import signal
import time
from decimal import Decimal

import pytest

from apps.exchange.simulator import SimulatorServer
from apps.exits.models import ProtectiveExit
from apps.trading.models import Fill, Order, OrderStatus, Position
from tests.e2e.conftest import SYMBOL, uptrend_simulator, wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def test_worker_killed_mid_order_then_restarted_heals_without_doubling(e2e_env, producer, workers):
    sim, _clock = uptrend_simulator()
    server = SimulatorServer(sim, port=0).start()
    try:
        # The exchange takes 3 s to answer order placement: the worker dies while waiting for it.
        sim.faults.set("create_order", latency_ms=3000)
        env = e2e_env(server)
        worker = workers(env)
        app = producer(env)
        app.send_task("trading.cycle", kwargs={"symbol": SYMBOL, "timeframe": "1m"})

        order = wait_for(
            lambda: Order.objects.filter(origin="signal", status=OrderStatus.SUBMITTED).first(), what="order in flight"
        )
        time.sleep(0.5)
        worker.stop(signal.SIGKILL)
        wait_for(lambda: sim.orders_with_text(order.client_order_id), timeout=15, what="the exchange executing it")

        workers(env)  # the restart; beat would send these on its own schedule
        app.send_task("trading.cycle", kwargs={"symbol": SYMBOL, "timeframe": "1m"})
        app.send_task("reconciliation.reconcile")
        healed = wait_for(
            lambda: Order.objects.filter(pk=order.pk, status=OrderStatus.FILLED).first(), timeout=60, what="healed"
        )
        on_exchange = sim.orders_with_text(order.client_order_id)
        assert len(on_exchange) == 1, "the order must not have been sent twice"
        assert healed.exchange_order_id == str(on_exchange[0].id)
        assert Order.objects.filter(origin="signal").count() == 1
        trades = [t for t in sim.trades(SYMBOL) if t.order_id == on_exchange[0].id]
        assert Fill.objects.filter(order=healed).count() == len(trades) >= 1
        assert sum(f.amount for f in Fill.objects.filter(order=healed)) == sum(t.amount for t in trades)
        position = Position.objects.get(status="open")
        assert position.amount > Decimal(0)
        assert ProtectiveExit.objects.filter(position=position, status="armed").count() == 1
    finally:
        server.stop()
