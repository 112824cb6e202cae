"""Visibility lag and late execution: what a lost create answer looks like on Gate.io.

Sources: Gate.io's maintainers (a just-created order may not be queryable at once; report it only if still not
found after 10 s, GATEIO.md); the x-gate-exptime header (Gate.io drops a request that arrives after it, so a
request still queued may be executed until then, GATEIO.md "Signing").
"""

from __future__ import annotations

import time
from decimal import Decimal

import ccxt
import pytest

from .simhttp import control, signed, wait_for

D = Decimal


@pytest.fixture
def clock(sim):
    now = [time.time()]
    sim.clock = lambda: now[0]
    return now


@pytest.fixture
def gate(gate_client):
    exchange = gate_client()
    exchange.load_markets()
    return exchange


def test_a_new_order_is_absent_everywhere_for_the_visibility_lag(gate, sim, sim_server, clock):
    """For visibility_lag_sec after creation an order is absent from GET /spot/orders/{id}, the lookup by text,
    both lists, /spot/open_orders and DELETE; then it appears."""
    assert control(sim_server, "settings", {"visibility_lag_sec": 3})[1]["visibility_lag_sec"] == 3
    order = gate.create_order("BTC/USDT", "limit", "buy", 0.001, 40000, {"clientOrderId": "t-lagged"})
    assert order["status"] == "open"  # the create answer itself carries the order
    clock[0] += 2.9
    with pytest.raises(ccxt.OrderNotFound):
        gate.fetch_order(order["id"], "BTC/USDT")
    with pytest.raises(ccxt.OrderNotFound):
        gate.fetch_order(None, "BTC/USDT", {"clientOrderId": "t-lagged"})
    assert gate.privateSpotGetOrders({"currency_pair": "BTC_USDT", "status": "open"}) == []
    assert gate.privateSpotGetOpenOrders({}) == []
    with pytest.raises(ccxt.OrderNotFound):
        gate.cancel_order(order["id"], "BTC/USDT")
    clock[0] += 0.2
    assert gate.fetch_order(order["id"], "BTC/USDT")["id"] == order["id"]
    assert gate.fetch_order(None, "BTC/USDT", {"clientOrderId": "t-lagged"})["id"] == order["id"]
    assert [o["id"] for o in gate.privateSpotGetOrders({"currency_pair": "BTC_USDT", "status": "open"})] == [
        order["id"]
    ]


def test_fills_and_finished_orders_lag_too(gate, sim, clock):
    """A market order that filled at once is absent from the finished list and my_trades for the lag."""
    sim.configure(visibility_lag_sec=2)
    order = gate.create_order("BTC/USDT", "market", "sell", 0.001)
    assert order["status"] == "closed"
    assert gate.privateSpotGetOrders({"currency_pair": "BTC_USDT", "status": "finished"}) == []
    assert gate.privateSpotGetMyTrades({"currency_pair": "BTC_USDT"}) == []
    clock[0] += 2
    assert [o["id"] for o in gate.privateSpotGetOrders({"currency_pair": "BTC_USDT", "status": "finished"})] == [
        order["id"]
    ]
    assert [t["order_id"] for t in gate.privateSpotGetMyTrades({"currency_pair": "BTC_USDT"})] == [order["id"]]


def test_late_execution_loses_the_answer_and_creates_the_order_later(gate, sim, sim_server):
    """Fault late_execution_rate / late_ms: the answer is lost, the order appears late_ms afterwards."""
    status, faults = control(
        sim_server, "faults", {"endpoint": "create_order", "late_execution_rate": 1, "late_ms": 400}
    )
    assert status == 200 and faults["rules"]["create_order"]["late_execution_rate"] == 1
    sent = time.time()
    with pytest.raises(ccxt.NetworkError):
        gate.create_order("BTC/USDT", "limit", "buy", 0.001, 40000, {"clientOrderId": "t-late"})
    assert sim.orders_with_text("t-late") == [] or time.time() - sent >= 0.4
    assert wait_for(lambda: len(sim.orders_with_text("t-late")) == 1)
    [order] = sim.orders_with_text("t-late")
    assert order.create_ms >= int(sent * 1000) + 400
    assert sim.faults.late == [("create_order", "executed")]


def test_late_execution_runs_up_to_the_requests_x_gate_exptime(sim, sim_server):
    """With late_ms 0 the request runs as late as Gate.io may: just before its x-gate-exptime."""
    sim.faults.set("create_order", late_execution_rate=1.0)
    expires_ms = int(time.time() * 1000) + 1500
    payload = {"currency_pair": "BTC_USDT", "side": "buy", "amount": "0.001", "price": "40000", "text": "t-exp"}
    with pytest.raises(OSError):  # the connection is closed without an answer
        signed(sim_server.base_url, "POST", "/api/v4/spot/orders", payload=payload,
               headers={"x-gate-exptime": str(expires_ms)})  # fmt: skip
    assert wait_for(lambda: len(sim.orders_with_text("t-exp")) == 1)
    [order] = sim.orders_with_text("t-exp")
    assert expires_ms - 1000 <= order.create_ms <= expires_ms


def test_a_request_arriving_after_its_exptime_is_not_executed(sim, sim_server):
    payload = {"currency_pair": "BTC_USDT", "side": "buy", "amount": "0.001", "price": "40000", "text": "t-old"}
    status, _, answer = signed(
        sim_server.base_url,
        "POST",
        "/api/v4/spot/orders",
        payload=payload,
        headers={"x-gate-exptime": str(int(time.time() * 1000) - 1)},
    )
    assert (status, answer["label"]) == (403, "REQUEST_EXPIRED")
    assert sim.orders_with_text("t-old") == []


def test_a_late_execution_that_would_run_past_the_exptime_is_dropped(sim, sim_server):
    """Never after x-gate-exptime, even when the delayed thread itself runs late (a loaded machine)."""
    from apps.exchange.simulator import api

    request = api.Request(body={"currency_pair": "BTC_USDT", "side": "buy", "amount": "0.001", "price": "40000"})
    sim_server.execute_late("create_order", api.create_order, request, 0, str(int(time.time() * 1000) - 1))
    assert wait_for(lambda: sim.faults.late == [("create_order", "REQUEST_EXPIRED")])
    assert sim.order_count() == 0
