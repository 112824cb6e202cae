"""The lost-answer path of order_submit against a simulator with Gate.io's visibility lag switched on.

Rules (GATEIO.md, issue 10): a new order may be absent from every lookup for a while (Gate.io's maintainers:
report it only if still not found after 10 s); a request can execute until its x-gate-exptime, compared with
Gate.io's clock. So "not found" after a lost answer proves nothing until the request's expiry (set when it
left, after any rate-limit wait) plus the visibility lag plus a clock-skew margin have passed; only then may
the order be re-sent, and every re-send is counted (`order_resends_total{symbol}`) and alerted.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest
from django.db import connection
from django.utils import timezone

from apps.audit.actors import SYSTEM
from apps.exchange.ccxt_broker import GateBroker
from apps.monitoring import metrics
from apps.trading.models import Order, OrderStatus, Position
from apps.trading.services import order_create
from apps.trading.submission import order_submit
from tests.exchange.brokers import ENDPOINTS, PassBreaker, make_limiter, make_sim, serve

LAG = 3.0
EXPIRY = 1.0
SKEW = 1.0  # generous: on a loaded test machine the simulator's late thread may itself run a little late


@pytest.fixture(autouse=True)
def _live_books(settings):
    """GateBroker is the live venue: the orders these tests send are live books (apps.trading.venues)."""
    settings.MODE = "live"


@pytest.fixture
def lagging():
    sim = make_sim(rate_limit=100_000, visibility_lag_sec=LAG)
    server = serve(sim)
    yield sim, server
    server.stop()


def gate_broker(url: str, limiter) -> GateBroker:
    return GateBroker(
        api_key="sim-key",
        api_secret="sim-secret",
        api_url=url,
        timeout_ms=3000,
        limiter=limiter,
        breakers={cls: PassBreaker() for cls in ENDPOINTS},
        retry_sleep=lambda seconds: None,
        order_expiry_seconds=EXPIRY,
        visibility_lag_seconds=LAG,
        clock_skew_seconds=SKEW,
    )


def resends(symbol: str) -> float:
    return metrics.ORDER_RESENDS.labels(symbol=symbol)._value.get()


@pytest.fixture
def alerts(side_effects) -> list[dict]:
    """The notifications sent (tests/support/side_effects.py: captured instead of any channel)."""
    return side_effects.notifications


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_200_lost_create_answers_with_a_3_s_visibility_lag_and_late_execution_leave_exactly_200_orders(
    lagging, tmp_path, alerts
):
    sim, server = lagging
    # Every answer is lost: half the orders are created at once, half executed late (300 ms after they
    # arrived, within their 1 s x-gate-exptime), each invisible for LAG seconds after that.
    sim.faults.set("create_order", drop_response_rate=0.5, late_execution_rate=0.5, late_ms=300)
    limiter = make_limiter(tmp_path, calls=100_000)  # our 9 orders / s per market, under Gate.io's 10
    # The positions the buys add to exist already: two first buys of a symbol filling at the same moment
    # would race to open it (the trading core's one-open-position constraint), which is not what this tests.
    for symbol in ("BTC/USDT", "ETH/USDT"):
        Position.objects.create(symbol=symbol, opened_at=timezone.now())
    pks = []
    for n in range(200):
        symbol = "BTC/USDT" if n % 2 else "ETH/USDT"
        if n % 4 < 2:
            price = Decimal("40000") if symbol == "BTC/USDT" else Decimal("2000")
            order = order_create(symbol=symbol, side="buy", type="limit", amount=Decimal("0.01"), price=price,
                                 actor=SYSTEM)  # fmt: skip
        else:
            order = order_create(symbol=symbol, side="buy", type="market", quote_amount=Decimal("20"), actor=SYSTEM)
        pks.append(order.pk)
    before = resends("BTC/USDT") + resends("ETH/USDT")
    local = threading.local()

    def submit(pk: int) -> Order:
        try:
            if not hasattr(local, "broker"):  # one ccxt client per thread, as each worker process has its own
                local.broker = gate_broker(server.url, limiter)
            return order_submit(order=Order.objects.get(pk=pk), broker=local.broker, actor=SYSTEM)
        finally:
            connection.close()

    # Each lost answer waits out expiry + lag + skew (5 s here): in parallel, as workers would.
    with ThreadPoolExecutor(max_workers=25) as pool:
        results = list(pool.map(submit, pks))

    assert [o.last_error for o in results if not o.exchange_order_id] == []
    assert sim.order_count() == 200
    # Found every time after the lag: never re-sent. Only a 429 (refused, not executed) is sent again.
    assert server.calls["create_order"] - 200 <= sim.rate_limited_count
    for order in results:
        [sim_order] = sim.orders_with_text(order.client_order_id)  # exactly one order per client id
        assert order.exchange_order_id == sim_order.id
        assert order.status == (OrderStatus.OPEN if order.type == "limit" else OrderStatus.FILLED)
        if order.type == "market":
            assert order.fills.count() >= 1
    assert Order.objects.filter(status=OrderStatus.UNKNOWN).count() == 0
    assert resends("BTC/USDT") + resends("ETH/USDT") == before and not alerts
    assert 50 < sum(1 for _, outcome in sim.faults.late if outcome == "executed") < 150


@pytest.mark.django_db
def test_a_request_that_never_arrived_is_resent_only_after_expiry_lag_and_skew(lagging, tmp_path, alerts):
    """Closed before the exchange did anything: absent from every lookup. The re-send waits until the first
    request could no longer execute nor still be invisible, and it is counted and alerted."""
    sim, server = lagging
    broker = gate_broker(server.url, make_limiter(tmp_path, calls=100_000, order_calls=100_000))
    broker.load_markets()
    sim.faults.set("create_order", disconnect_rate=1.0, times=1)
    order = order_create(symbol="BTC/USDT", side="buy", type="limit", amount=Decimal("0.001"),
                         price=Decimal("40000"), actor=SYSTEM)  # fmt: skip
    before = resends("BTC/USDT")
    started = time.time()

    result = order_submit(order=order, broker=broker, actor=SYSTEM)

    [sim_order] = sim.orders_with_text(order.client_order_id)
    assert server.calls["create_order"] == 2 and result.exchange_order_id == sim_order.id
    assert result.status == OrderStatus.OPEN
    assert sim_order.create_ms / 1000 >= started + EXPIRY + LAG + SKEW - 0.05  # not before it was safe
    assert resends("BTC/USDT") == before + 1
    assert [a["kind"] for a in alerts] == ["order_resent"]


@pytest.mark.django_db
def test_the_expiry_is_measured_from_when_the_request_left_after_the_rate_limit_wait(lagging, tmp_path):
    """x-gate-exptime is set when the request leaves, and the wait after a lost answer starts from it."""
    sim, server = lagging
    broker = gate_broker(server.url, make_limiter(tmp_path, calls=100_000, order_calls=100_000))
    broker.load_markets()
    sent = []
    real_acquire = broker.client.tb_limiter.acquire

    def slow_acquire(bucket: str):
        real_acquire(bucket)
        if bucket.startswith("gateio_orders:"):
            time.sleep(1.0)  # the order bucket made us wait a second
            sent.append(time.time())

    broker.client.tb_limiter.acquire = slow_acquire
    sim.faults.set("create_order", disconnect_rate=1.0, times=1)
    order = order_create(symbol="BTC/USDT", side="buy", type="limit", amount=Decimal("0.001"),
                         price=Decimal("40000"), actor=SYSTEM)  # fmt: skip

    result = order_submit(order=order, broker=broker, actor=SYSTEM)

    [sim_order] = sim.orders_with_text(order.client_order_id)
    assert result.exchange_order_id == sim_order.id
    assert sim_order.create_ms / 1000 >= sent[0] + EXPIRY + LAG + SKEW - 0.05


@pytest.mark.django_db
def test_a_429_on_order_placement_is_sent_again_and_never_taken_for_a_lost_answer(lagging, tmp_path, alerts):
    """TOO_MANY_REQUESTS is Gate.io's answer that it did not execute the request: sending it again is safe, no
    search and no wait are needed, and it is not a re-send after a lost answer."""
    sim, server = lagging
    broker = gate_broker(server.url, make_limiter(tmp_path, calls=100_000, order_calls=100_000))
    broker.load_markets()
    sim.faults.set("create_order", rate_limit_rate=1.0, times=1)
    order = order_create(symbol="BTC/USDT", side="buy", type="limit", amount=Decimal("0.001"),
                         price=Decimal("40000"), actor=SYSTEM)  # fmt: skip
    before = resends("BTC/USDT")

    result = order_submit(order=order, broker=broker, actor=SYSTEM)

    [sim_order] = sim.orders_with_text(order.client_order_id)
    assert result.status == OrderStatus.OPEN and result.exchange_order_id == sim_order.id
    assert server.calls["create_order"] == 2 and resends("BTC/USDT") == before and not alerts


@pytest.mark.django_db
def test_an_order_still_refused_with_429s_is_rejected_not_unknown(lagging, tmp_path):
    sim, server = lagging
    broker = gate_broker(server.url, make_limiter(tmp_path, calls=100_000, order_calls=100_000))
    broker.load_markets()
    sim.faults.set("create_order", rate_limit_rate=1.0)
    order = order_create(symbol="BTC/USDT", side="buy", type="limit", amount=Decimal("0.001"),
                         price=Decimal("40000"), actor=SYSTEM)  # fmt: skip

    result = order_submit(order=order, broker=broker, actor=SYSTEM)

    assert result.status == OrderStatus.REJECTED and "TOO_MANY_REQUESTS" in result.last_error
    assert server.calls["create_order"] == 3 and sim.order_count() == 0
