"""Price-triggered orders (exchange-side stops) in the simulator: account, both spellings of cancelled, and both
answers to cancelling a stop that already fired.

Sources: the SDK's SpotPricePutOrder model (gate_api/models/spot_price_put_order.py: account "normal" by default,
"Unified account must be set to unified"), ccxt gate.py (spot trigger orders send account "normal"), GATEIO.md
(a real cancelled price order was recorded with status "canceled"; the SDK says "cancelled").
"""

from __future__ import annotations

from decimal import Decimal

import ccxt
import pytest

from .simhttp import control, signed

D = Decimal
PATH = "/api/v4/spot/price_orders"


@pytest.fixture
def gate(gate_client):
    exchange = gate_client()
    exchange.load_markets()
    return exchange


def _stop(account: str | None, price: str = "45000") -> dict:
    put = {"type": "limit", "side": "sell", "price": "44000", "amount": "0.01", "time_in_force": "gtc"}
    if account is not None:
        put["account"] = account
    return {"market": "BTC_USDT", "trigger": {"price": price, "rule": "<=", "expiration": 0}, "put": put}


def test_ccxt_sends_normal_and_the_simulator_records_the_put_account(gate, sim, sim_server):
    """SDK SpotPricePutOrder: account normal | margin | unified (normal by default); ccxt spot stops send normal."""
    gate.create_order("BTC/USDT", "limit", "sell", 0.01, 44000, {"stopLossPrice": 45000})
    assert [po.put["account"] for po in sim.price_orders()] == ["normal"]
    for account in ("unified", "spot", None):
        status, _, answer = signed(sim_server.base_url, "POST", PATH, payload=_stop(account))
        assert status == 200 and "id" in answer
    assert [po.put["account"] for po in sim.price_orders()] == ["normal", "unified", "spot", "normal"]
    status, _, answer = signed(sim_server.base_url, "POST", PATH, payload=_stop("margin"))
    assert (status, answer["label"]) == (400, "INVALID_PARAM_VALUE")


def test_on_a_unified_account_a_stop_with_a_normal_put_fails_when_it_fires(gate, sim, sim_server):
    """SDK: 'Unified account must be set to unified'. The docs are silent on what happens otherwise; the
    simulator takes the choice hardest on the client: accepted when placed, failed when it fires."""
    sim.configure(unified_account=True)
    assert gate.privateAccountGetDetail()["key"]["mode"] == 2  # how ccxt's load_unified_status reads it
    gate.create_order("BTC/USDT", "limit", "sell", 0.01, 44000, {"stopLossPrice": 45000})
    signed(sim_server.base_url, "POST", PATH, payload=_stop("unified"))
    sim.set_price("BTC/USDT", D("44900"))
    normal, unified = sorted(sim.price_orders(), key=lambda po: po.id)
    assert (normal.status, normal.fired_order_id) == ("failed", "")
    assert "unified" in normal.reason
    assert unified.status == "finish" and unified.fired_order_id


@pytest.mark.parametrize("spelling", ["cancelled", "canceled"])
def test_cancelled_price_order_status_reads_either_spelling(gate, sim, sim_server, spelling):
    """GATEIO.md: a real cancelled price order was recorded as `canceled`, the SDK says `cancelled`.
    Switch: price_order_cancelled_status (constructor, sim.configure, /_control/settings)."""
    assert control(sim_server, "settings", {"price_order_cancelled_status": spelling})[0] == 200
    gate.create_order("BTC/USDT", "limit", "sell", 0.01, 44000, {"stopLossPrice": 45000})
    gate.create_order("BTC/USDT", "limit", "sell", 0.01, 43000, {"stopLossPrice": 44000})
    first, second = sorted(sim.price_orders(), key=lambda po: po.id)
    answer = gate.privateSpotDeletePriceOrdersOrderId({"order_id": str(first.id)})
    assert answer["status"] == spelling
    # cancelled on the website, behind the bot's back: same spelling
    assert control(sim_server, "cancel_price_order", {"order_id": str(second.id)})[1]["status"] == spelling
    finished = gate.privateSpotGetPriceOrders({"status": "finished"})
    assert {o["status"] for o in finished} == {spelling}
    assert gate.privateSpotGetPriceOrders({"status": "open"}) == []


def _fire_one(gate, sim) -> int:
    gate.create_order("BTC/USDT", "limit", "sell", 0.01, 44000, {"stopLossPrice": 45000})
    sim.set_price("BTC/USDT", D("44900"))
    [po] = sim.price_orders()
    assert po.status == "finish"
    return po.id


def test_cancelling_a_fired_stop_is_not_found_by_default(gate, sim):
    """Undocumented: Gate.io may answer a cancel of a fired stop with 404 (default fired_price_order_cancel)."""
    po_id = _fire_one(gate, sim)
    with pytest.raises(ccxt.OrderNotFound):
        gate.cancel_order(str(po_id), "BTC/USDT", {"trigger": True})


def test_cancelling_a_fired_stop_can_answer_200_with_the_fired_order(gate, sim, sim_server):
    """The other answer (fired_price_order_cancel=fired): 200 with the stop as it is, status finish and its
    fired_order_id: a client that takes "no exception" for "cancelled" would sell twice."""
    assert control(sim_server, "settings", {"fired_price_order_cancel": "fired"})[0] == 200
    po_id = _fire_one(gate, sim)
    answer = gate.privateSpotDeletePriceOrdersOrderId({"order_id": str(po_id)})
    assert answer["status"] == "finish" and str(answer["fired_order_id"]) == sim.price_orders()[0].fired_order_id
    assert gate.fetch_order(str(answer["fired_order_id"]), "BTC/USDT")["status"] == "closed"


def test_bad_switch_values_are_refused(sim):
    with pytest.raises(ValueError, match="price_order_cancelled_status"):
        sim.configure(price_order_cancelled_status="gone")
    with pytest.raises(ValueError, match="fired_price_order_cancel"):
        sim.configure(fired_price_order_cancel="maybe")
