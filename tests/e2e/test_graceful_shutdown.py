"""SIGTERM lets a worker finish its in-flight exchange call and persist the result, then exit within 30 s."""

import json
import signal
import time

import pytest

from apps.exchange.simulator import SimulatorServer
from apps.trading.models import Order, OrderStatus
from tests.e2e.conftest import SYMBOL, uptrend_simulator, wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def test_sigterm_finishes_the_order_in_flight_then_exits(e2e_env, producer, workers, tmp_path):
    sim, _clock = uptrend_simulator()
    server = SimulatorServer(sim, port=0).start()
    try:
        sim.faults.set("create_order", latency_ms=3000)
        env = e2e_env(server, DATA_DIR=str(tmp_path / "data"))
        worker = workers(env)
        producer(env).send_task("trading.cycle", kwargs={"symbol": SYMBOL, "timeframe": "1m"})
        order = wait_for(
            lambda: Order.objects.filter(origin="signal", status=OrderStatus.SUBMITTED).first(), what="order in flight"
        )
        took = worker.stop(signal.SIGTERM, timeout=40)

        assert took < 30
        order.refresh_from_db()
        assert order.status == OrderStatus.FILLED and order.exchange_order_id
        assert len(sim.orders_with_text(order.client_order_id)) == 1
        record = json.loads((tmp_path / "data" / "last_worker_shutdown.json").read_text())
        assert 0 < record["duration_seconds"] < 30
        assert record["at"] <= time.time()
    finally:
        server.stop()
