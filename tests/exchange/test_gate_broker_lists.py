"""GateBroker's lists and answers under Gate.io's documented rules (real ccxt gate class, simulator over HTTP).

Sources: the official `gate-api` SDK docstrings (spot_api.py): list_orders — status=open takes only page and
limit, limit <= 100; finished orders filter from/to on the finish time; list_my_trades — without from/to only
the last 7 days, a range over 30 days refused; list_all_open_orders — every pair with open orders and its
`total`. ccxt's recorded answers (gate.json): finished market orders without filled_amount, `canceled`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from apps.audit.actors import SYSTEM
from apps.exchange.broker import CircuitOpen, InvalidOrder, OrderNotFound, TransientExchangeError
from apps.exchange.types import OrderRequest
from apps.trading.models import OrderStatus
from apps.trading.services import order_create
from apps.trading.submission import order_cancel, order_submit
from tests.exchange.brokers import make_breakers, make_broker, make_limiter, make_sim, serve

D = Decimal
pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _live_books(settings):
    """GateBroker is the live venue: orders these tests create and send are live books (apps.trading.venues)."""
    settings.MODE = "live"


@pytest.fixture
def strict():
    sim = make_sim(rate_limit=100_000)
    server = serve(sim)
    yield sim, server
    server.stop()


@pytest.fixture
def broker(strict, tmp_path):
    _, server = strict
    return make_broker(server.url, make_limiter(tmp_path, calls=100_000, order_calls=100_000))


def _rest(sim, count: int, symbol: str = "BTC/USDT") -> list:
    base = 40000 if symbol == "BTC/USDT" else 2000
    return [
        sim.place_order(symbol=symbol, side="buy", type="limit", amount=D("0.001"), price=D(base - n))
        for n in range(count)
    ]


@pytest.mark.parametrize("over_max", ["refuse", "clamp"])
def test_105_open_orders_are_read_in_pages_of_100_until_a_short_page(strict, broker, over_max):
    sim, server = strict
    sim.configure(open_limit_over_max=over_max)
    placed = _rest(sim, 105)
    broker.load_markets()
    before = server.calls.get("list_orders", 0)

    listed = broker.read_open_orders("BTC/USDT")

    assert {o.exchange_order_id for o in listed.orders} == {o.id for o in placed} and listed.complete
    assert server.calls["list_orders"] - before == 2  # 100, then a short page of 5


def test_all_pairs_open_orders_find_every_pair_and_page_the_full_one(strict, broker):
    sim, _ = strict
    btc, eth = _rest(sim, 105), _rest(sim, 2, "ETH/USDT")

    pairs = broker.fetch_all_open_orders()

    assert set(pairs) == {"BTC/USDT", "ETH/USDT"}
    assert {o.exchange_order_id for o in pairs["BTC/USDT"].orders} == {o.id for o in btc}
    assert {o.exchange_order_id for o in pairs["ETH/USDT"].orders} == {o.id for o in eth}
    assert pairs["BTC/USDT"].complete and pairs["ETH/USDT"].complete


def test_a_list_shorter_than_the_pairs_total_is_not_complete(strict, broker):
    """`total` says how many open orders the pair has: a list that holds fewer proves no absence."""
    sim, _ = strict
    _rest(sim, 3)
    real = broker.client.privateSpotGetOrders
    broker.client.privateSpotGetOrders = lambda params: real(params)[:1]  # a server cutting its pages

    listed = broker.read_open_orders("BTC/USDT", total=3)

    assert len(listed.orders) == 1 and not listed.complete


def _age_trades(sim, order_id: str, days: float) -> None:
    with sim.lock:
        for trade in sim.trades("BTC/USDT"):
            if trade.order_id == order_id:
                trade.create_us -= int(days * 86400 * 1_000_000)
        order = sim.get_order(order_id)
        order.finish_ms -= int(days * 86400 * 1000)


def test_my_trades_over_30_days_are_read_in_7_day_windows_with_from_and_to(strict, broker):
    sim, server = strict
    order = broker.create_order(
        OrderRequest("BTC/USDT", "buy", "limit", "t-tb-old1", amount=D("0.001"), price=D(40000))
    )
    sim.fill_open_orders(order_id=order.exchange_order_id)
    _age_trades(sim, order.exchange_order_id, 10)
    before = server.calls.get("my_trades", 0)

    trades = broker.fetch_my_trades("BTC/USDT", datetime.now(UTC) - timedelta(days=30))
    closed = broker.fetch_closed_orders("BTC/USDT", datetime.now(UTC) - timedelta(days=30))

    assert [t.exchange_order_id for t in trades] == [order.exchange_order_id]  # 10 days old, found
    assert server.calls["my_trades"] - before == 5  # 30 days + 1 s in windows of 7 days: 5 windows
    assert [o.exchange_order_id for o in closed] == [order.exchange_order_id]


def test_a_finished_market_order_without_filled_amount_takes_it_from_its_trades(strict, broker):
    sim, _ = strict
    sim.configure(omit_market_filled_amount=True)
    request = OrderRequest("BTC/USDT", "buy", "market", "t-tb-mkt1", quote_amount=D("100"))

    placed = broker.create_order(request)
    again = broker.fetch_order("BTC/USDT", placed.exchange_order_id)

    fills = sum((t.amount for t in sim.trades("BTC/USDT") if t.order_id == placed.exchange_order_id), D(0))
    assert fills > 0
    for answer in (placed, again):
        assert answer.status == OrderStatus.FILLED and answer.filled == fills and answer.filled_exact


@pytest.mark.parametrize("label", ["ORDER_NOT_FOUND", "ORDER_CLOSED", "ORDER_CANCELLED", "ORDER_FINISHED"])
def test_cancelling_an_order_that_already_filled_refreshes_it_whatever_the_label(strict, broker, label):
    sim, _ = strict
    order = order_create(symbol="BTC/USDT", side="buy", type="limit", amount=D("0.001"), price=D(49000), actor=SYSTEM)
    order = order_submit(order=order, broker=broker, actor=SYSTEM)
    sim.fill_open_orders(order_id=order.exchange_order_id)
    real_cancel = broker.cancel_order

    def refused(symbol, exchange_order_id):
        try:
            real_cancel(symbol, exchange_order_id)  # the simulator answers ORDER_NOT_FOUND
        except OrderNotFound as exc:
            raise (OrderNotFound if label == "ORDER_NOT_FOUND" else InvalidOrder)(str(exc), label) from exc

    broker.cancel_order = refused

    result = order_cancel(order=order, broker=broker, actor=SYSTEM)

    assert result.status == OrderStatus.FILLED and result.filled == D("0.001") and result.fills.count() == 1


def test_failing_reads_open_their_own_breaker_and_orders_still_go_out(strict, tmp_path):
    """A reconciliation's storm of failing reads must not refuse order placement (private_orders)."""
    sim, server = strict
    breakers = make_breakers(threshold=2, cooldown=60)
    broker = make_broker(server.url, make_limiter(tmp_path, calls=100_000, order_calls=100_000), breakers=breakers)
    broker.load_markets()
    sim.faults.set("list_orders", error_rate=1.0)
    with pytest.raises((TransientExchangeError, CircuitOpen)):  # retried, each attempt failing: it opens
        broker.fetch_closed_orders("BTC/USDT", datetime.now(UTC) - timedelta(hours=1))
    with pytest.raises(CircuitOpen):
        broker.fetch_closed_orders("BTC/USDT", datetime.now(UTC) - timedelta(hours=1))

    broker.check_available("private_orders")  # not refused
    placed = broker.create_order(
        OrderRequest("BTC/USDT", "buy", "limit", "t-tb-brk1", amount=D("0.001"), price=D(40000))
    )
    assert placed.status == OrderStatus.OPEN
    assert breakers["private_reads"].state() == "open" and breakers["private_orders"].state() == "closed"
