"""order_submit / order_cancel / order_refresh: idempotent submission through GateBroker and the simulator."""

from __future__ import annotations

from decimal import Decimal

import pytest

from apps.exchange.breaker import CircuitBreaker, DbStore
from apps.exchange.broker import CircuitOpen
from apps.trading.models import Order
from apps.trading.submission import order_cancel, order_refresh, order_submit
from tests.exchange.brokers import ENDPOINTS, make_breakers, make_broker, make_limiter, make_sim, serve

D = Decimal
pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _live_books(settings):
    """GateBroker is the live venue: the orders these tests send are live books (apps.trading.venues)."""
    settings.MODE = "live"


@pytest.fixture
def fast_sim():
    sim = make_sim(rate_limit=100_000, order_rate_limit=100_000)  # the limiter below does not pace orders
    server = serve(sim)
    yield sim, server
    server.stop()


@pytest.fixture
def broker(fast_sim, tmp_path):
    _, server = fast_sim
    limiter = make_limiter(tmp_path, calls=100_000, order_calls=100_000)
    return make_broker(server.url, limiter, breakers=make_breakers(threshold=5, cooldown=1), timeout_ms=800)


def limit(make_order, **kw):
    return make_order(**{"type": "limit", "side": "buy", "amount": D("0.0001"), "price": D("40000"), **kw})


def market_buy(make_order, quote="5"):
    return make_order(type="market", side="buy", amount=None, quote_amount=D(quote))


def test_limit_order_is_submitted_and_recorded(broker, make_order, operator_actor, fast_sim):
    sim, _ = fast_sim
    order = order_submit(order=limit(make_order, amount=D("0.00012349")), broker=broker, actor=operator_actor)
    assert order.status == "open" and order.exchange_order_id
    assert order.amount == D("0.000123")  # rounded down before sending, and recorded
    [sim_order] = sim.orders_with_text(order.client_order_id)
    assert sim_order.id == order.exchange_order_id


def test_market_buy_is_filled_with_fills_and_fees_in_base(broker, make_order, operator_actor):
    order = order_submit(order=market_buy(make_order, "100"), broker=broker, actor=operator_actor)
    assert order.status == "filled" and order.filled > 0
    fills = list(order.fills.all())
    assert fills and {f.fee_currency for f in fills} == {"BTC"}
    assert D("99") < order.cost <= D("100")


def test_below_minimum_is_rejected_and_nothing_is_sent(broker, make_order, operator_actor, fast_sim):
    _, server = fast_sim
    order = order_submit(order=market_buy(make_order, "2"), broker=broker, actor=operator_actor)
    assert order.status == "rejected" and "minimum" in order.last_error
    assert server.calls["create_order"] == 0


def test_business_error_is_rejected_with_the_reason(broker, make_order, operator_actor):
    order = order_submit(order=limit(make_order, amount=D("50")), broker=broker, actor=operator_actor)
    assert order.status == "rejected" and "BALANCE_NOT_ENOUGH" in order.last_error


def test_submit_twice_sends_once(broker, make_order, operator_actor, fast_sim):
    _, server = fast_sim
    order = limit(make_order)
    order_submit(order=order, broker=broker, actor=operator_actor)
    order_submit(order=order, broker=broker, actor=operator_actor)
    assert server.calls["create_order"] == 1


@pytest.mark.slow
def test_200_dropped_answers_leave_exactly_200_orders_each_with_the_right_id(
    broker, make_order, operator_actor, fast_sim
):
    sim, server = fast_sim
    sim.faults.set("create_order", drop_response_rate=1.0)
    orders = [limit(make_order) if i % 2 else market_buy(make_order) for i in range(200)]
    results = [order_submit(order=o, broker=broker, actor=operator_actor) for o in orders]
    assert server.calls["create_order"] == 200  # found every time: never re-sent
    assert sim.order_count() == 200
    for order in results:
        [sim_order] = sim.orders_with_text(order.client_order_id)  # no duplicates
        assert order.exchange_order_id == sim_order.id
        assert order.status == ("open" if order.type == "limit" else "filled")
    assert Order.objects.filter(status="unknown").count() == 0
    assert broker.breakers["private_orders"].state() == "closed"


def test_lost_request_that_never_arrived_is_sent_once_more(broker, make_order, operator_actor, fast_sim):
    sim, server = fast_sim
    sim.faults.set("create_order", disconnect_rate=1.0, times=1)  # closed before the exchange did anything
    order = order_submit(order=limit(make_order), broker=broker, actor=operator_actor)
    assert order.status == "open"
    assert server.calls["create_order"] == 2
    assert len(sim.orders_with_text(order.client_order_id)) == 1


def test_lost_answer_and_failing_lookups_leave_it_unknown(broker, make_order, operator_actor, fast_sim):
    sim, server = fast_sim
    broker.load_markets()
    sim.faults.set("*", error_rate=1.0)
    sim.faults.set("create_order", drop_response_rate=1.0)
    order = order_submit(order=limit(make_order), broker=broker, actor=operator_actor)
    assert order.status == "unknown" and "lookup failed" in order.last_error
    assert server.calls["create_order"] == 1  # never re-sent without proof of absence
    assert sim.order_count() == 1


def _open_circuit_broker(server, tmp_path):
    store = DbStore()
    breakers = {cls: CircuitBreaker(f"gateio:{cls}", store, threshold=1, cooldown=60) for cls in ENDPOINTS}
    broker = make_broker(server.url, make_limiter(tmp_path), breakers=breakers)
    broker.load_markets()
    breakers["private_orders"].on_failure(RuntimeError("storm"))
    return broker


def test_open_circuit_rejects_the_order_with_the_reason_and_sends_nothing(
    fast_sim, tmp_path, make_order, operator_actor
):
    """Issue 11, Deliver 3: an order refused before anything was sent ends `rejected` with the reason,
    never `new` for ever."""
    _, server = fast_sim
    broker = _open_circuit_broker(server, tmp_path)
    order = order_submit(order=limit(make_order), broker=broker, actor=operator_actor)
    assert order.status == "rejected" and "not sent" in order.last_error and "open" in order.last_error
    assert Order.objects.get(pk=order.pk).status == "rejected" and server.calls["create_order"] == 0


def test_open_circuit_holds_an_exit_order_new_for_the_next_pass(fast_sim, tmp_path, make_order, operator_actor):
    """Protective exits retry the same order next pass: for them an unavailable exchange leaves it `new`."""
    _, server = fast_sim
    broker = _open_circuit_broker(server, tmp_path)
    order = limit(make_order)
    with pytest.raises(CircuitOpen):
        order_submit(order=order, broker=broker, actor=operator_actor, hold_when_unavailable=True)
    order.refresh_from_db()
    assert order.status == "new" and server.calls["create_order"] == 0


def test_cancel_and_refresh(broker, make_order, operator_actor, fast_sim):
    sim, _ = fast_sim
    resting = order_submit(order=limit(make_order), broker=broker, actor=operator_actor)
    assert order_cancel(order=resting, broker=broker, actor=operator_actor).status == "cancelled"
    crossing = order_submit(order=limit(make_order, price=D("49000")), broker=broker, actor=operator_actor)
    sim.set_price("BTC/USDT", D("48000"))
    refreshed = order_refresh(order=crossing, broker=broker, actor=operator_actor)
    assert refreshed.status == "filled" and refreshed.filled == D("0.0001") and refreshed.fills.count() >= 1
    never_sent = limit(make_order)
    assert order_cancel(order=never_sent, broker=broker, actor=operator_actor).status == "cancelled"


def test_cancelled_behind_our_back_is_read_back(broker, make_order, operator_actor, fast_sim):
    sim, _ = fast_sim
    order = order_submit(order=limit(make_order), broker=broker, actor=operator_actor)
    sim.cancel_behind_back(order.exchange_order_id)
    assert order_cancel(order=order, broker=broker, actor=operator_actor).status == "cancelled"


def test_a_second_order_in_a_fresh_simulator_has_no_cross_talk():
    sim = make_sim()
    assert sim.order_count() == 0
