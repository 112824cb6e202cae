"""Reconciliation against a simulator that keeps Gate.io's documented rules, with its faults switched on
(issue 10, "Done when"): visibility lag, finished orders on their finish time, my_trades in 7-day windows.

Sources: the official `gate-api` SDK docstrings (spot_api.py: list_orders — status=open takes page/limit only,
limit <= 100; list_my_trades — 7 days without from/to, at most 30 days; list_all_open_orders — every pair
with its `total`), Gate.io's maintainers on the visibility of new orders (report only after 10 s), and
GATEIO.md ("never conclude that an order is gone from a page that may be cut").
"""

from __future__ import annotations

import time
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from apps.audit.actors import SYSTEM
from apps.exchange.broker import TransientExchangeError
from apps.reconciliation.models import Discrepancy, ReconciliationRun
from apps.reconciliation.services import reconcile
from apps.trading.models import Order, OrderStatus

pytestmark = pytest.mark.django_db

LAG = 3.0  # seconds a new order (or fill) stays invisible on the simulator


@pytest.fixture(autouse=True)
def strict_faults(rsim):
    """The faults a real Gate.io can show, on for every test here: new orders invisible for LAG seconds, and a
    status=open limit over 100 silently clamped (the broker asks for 100, so it must not matter)."""
    rsim.configure(visibility_lag_sec=LAG, open_limit_over_max="clamp")
    return rsim


def _age(order: Order, delta: timedelta) -> None:
    """Our row as the bot wrote it `delta` ago (an older order, past every grace period)."""
    then = timezone.now() - delta
    Order.objects.filter(pk=order.pk).update(created_at=then, submitted_at=then, updated_at=then)


def _backdate_on_exchange(sim, exchange_order_id: str, delta: timedelta) -> None:
    """The simulator's copy of the order and its fills as if it had happened `delta` ago."""
    ms, us = int(delta.total_seconds() * 1000), int(delta.total_seconds() * 1_000_000)
    with sim.lock:
        order = sim.get_order(exchange_order_id)
        order.create_ms -= ms
        order.update_ms -= ms
        if order.finish_ms:
            order.finish_ms -= ms
        for trade in sim.trades(order.pair.replace("_", "/")):
            if trade.order_id == exchange_order_id:
                trade.create_us -= us


def test_105_resting_orders_survive_a_reconciliation_untouched(rsim, broker, place):
    """More open orders than Gate.io's page of 100: the second page is read, nothing is concluded cancelled."""
    orders = [place(price=str(40000 + n)) for n in range(105)]
    for order in orders:
        _age(order, timedelta(minutes=10))
        _backdate_on_exchange(rsim, order.exchange_order_id, timedelta(minutes=10))

    run = reconcile(broker=broker, actor=SYSTEM, symbols=["BTC/USDT"])

    assert run.status == ReconciliationRun.Status.OK, (run.error, list(run.discrepancies.values("kind", "details")))
    assert Order.objects.filter(status=OrderStatus.OPEN).count() == 105
    assert rsim.order_count("BTC/USDT", status="open") == 105
    assert not run.discrepancies.exists()


def test_an_order_missing_from_a_cut_list_is_read_by_id_before_anything_is_concluded(rsim, broker, place):
    """A server that clamps its page (hardest on the client): the open list looks complete but lacks orders.
    Each live order missing from the lists is read by its id, so none is taken for cancelled."""
    orders = [place(price=str(41000 + n)) for n in range(3)]
    for order in orders:
        _age(order, timedelta(minutes=10))
        _backdate_on_exchange(rsim, order.exchange_order_id, timedelta(minutes=10))
    real = broker.read_open_orders

    def clamped(symbol, **kwargs):
        listed = real(symbol, **kwargs)
        return type(listed)(listed.symbol, listed.orders[:1], True)  # short, and claiming to be complete

    broker.read_open_orders = clamped
    broker.fetch_all_open_orders = None  # as a broker without the all-pairs list: the cut list is all there is

    run = reconcile(broker=broker, actor=SYSTEM, symbols=["BTC/USDT"])

    assert run.status == ReconciliationRun.Status.OK, run.error
    assert Order.objects.filter(status=OrderStatus.OPEN).count() == 3


def test_a_fill_ten_days_old_is_found_with_a_30_day_lookback(rsim, broker, place):
    """my_trades answers 7 days unless given both from and to: the broker reads 7-day windows."""
    order = place(price="49000")
    rsim.fill_open_orders(order_id=order.exchange_order_id)
    _backdate_on_exchange(rsim, order.exchange_order_id, timedelta(days=10))
    _age(order, timedelta(days=10))

    run = reconcile(broker=broker, actor=SYSTEM, symbols=["BTC/USDT"], lookback_hours=720)

    order.refresh_from_db()
    assert run.status == ReconciliationRun.Status.DISCREPANCIES, run.error
    assert (order.status, order.filled, order.fills.count()) == (OrderStatus.FILLED, Decimal("0.01"), 1)
    assert order.fills.get().executed_at < timezone.now() - timedelta(days=9)


def _a_minute_ago(sim, *orders) -> None:
    """Placed a while ago, past the visibility lag."""
    with sim.lock:
        for sim_order in orders:
            sim_order.create_ms -= 60_000
            sim_order.update_ms -= 60_000
            sim_order.finish_ms = sim_order.finish_ms and sim_order.finish_ms - 60_000
        for trade in sim.trades():
            if trade.order_id in {o.id for o in orders}:
                trade.create_us -= 60_000_000


def test_an_order_resting_by_hand_in_a_pair_outside_symbols_is_imported(rsim, broker, settings):
    """SYMBOLS=BTC/USDT; someone rests an ETH/USDT order on the website (Gate.io's text "apiv4", no t-): the
    all-pairs open orders (GET /spot/open_orders) find it."""
    settings.SYMBOLS = ("BTC/USDT",)
    resting = rsim.place_order(symbol="ETH/USDT", side="buy", type="limit", amount=Decimal("0.1"), price=Decimal(2000))
    _a_minute_ago(rsim, resting)

    run = reconcile(broker=broker, actor=SYSTEM)

    assert "ETH/USDT" in run.symbols, run.error
    [imported] = Order.objects.filter(symbol="ETH/USDT")
    assert (imported.exchange_order_id, imported.status, imported.origin) == (resting.id, OrderStatus.OPEN, "external")
    assert imported.client_order_id is None  # no made-up t-tb- id: it was never ours
    assert run.discrepancies.filter(kind=Discrepancy.Kind.EXTERNAL, symbol="ETH/USDT").count() == 1


def test_a_market_buy_by_hand_in_a_pair_outside_symbols_is_found_through_the_balance(rsim, broker, settings):
    """A finished hand trade is in no open list: the ETH balance leads to the pair, its finished orders to it."""
    settings.SYMBOLS = ("BTC/USDT",)
    bought = rsim.place_order(symbol="ETH/USDT", side="buy", type="market", amount=Decimal("100"))
    _a_minute_ago(rsim, bought)

    run = reconcile(broker=broker, actor=SYSTEM)

    assert "ETH/USDT" in run.symbols, run.error
    [imported] = Order.objects.filter(symbol="ETH/USDT")
    assert (imported.exchange_order_id, imported.status) == (bought.id, OrderStatus.FILLED)
    assert imported.fills.count() >= 1 and imported.filled == sum(t.amount for t in rsim.trades("ETH/USDT"))
    assert imported.client_order_id is None


@pytest.mark.parametrize("forgotten", [False, True], ids=["still-listed", "forgotten-by-gateio"])
def test_an_order_cancelled_behind_our_back_is_cancelled_after_one_pass(rsim, broker, place, forgotten):
    """Cancelled on the website: listed as finished for a while, then forgotten (unfilled cancelled orders go
    after about a minute); either way one pass cancels it here, the forgotten one after reading it by id."""
    order = place()
    _age(order, timedelta(minutes=10))
    rsim.cancel_behind_back(order.exchange_order_id)
    if forgotten:
        rsim.configure(cancelled_retention_sec=0)

    run = reconcile(broker=broker, actor=SYSTEM, symbols=["BTC/USDT"])

    order.refresh_from_db()
    assert order.status == OrderStatus.CANCELLED, run.error
    assert run.status == ReconciliationRun.Status.DISCREPANCIES


def test_a_new_order_not_visible_yet_is_left_alone(rsim, broker, place):
    """Inside the visibility lag a new order is in no list; its absence proves nothing."""
    order = place()
    assert rsim.open_orders("BTC/USDT")  # it exists, but the API does not show it yet

    run = reconcile(broker=broker, actor=SYSTEM, symbols=["BTC/USDT"])

    order.refresh_from_db()
    assert order.status == OrderStatus.OPEN and run.status == ReconciliationRun.Status.OK


def test_one_symbols_exchange_error_does_not_skip_the_others_or_the_balances(rsim, broker, place):
    eth = place(symbol="ETH/USDT", amount="0.1", price="2900")
    _age(eth, timedelta(minutes=10))
    rsim.cancel_behind_back(eth.exchange_order_id)
    rsim.set_balance("BTC", Decimal("1"))  # held on the exchange, no position here: the balance check says so
    real = broker.fetch_closed_orders

    def failing_for_btc(symbol, since, until=None):
        if symbol == "BTC/USDT":
            raise TransientExchangeError("BTC finished orders: 502 from the exchange")
        return real(symbol, since, until)

    broker.fetch_closed_orders = failing_for_btc

    run = reconcile(broker=broker, actor=SYSTEM, symbols=["BTC/USDT", "ETH/USDT"])

    eth.refresh_from_db()
    assert run.status == ReconciliationRun.Status.FAILED
    assert run.error.splitlines() == [run.error] and "at BTC/USDT" in run.error  # that one error only
    assert eth.status == OrderStatus.CANCELLED  # ETH/USDT, after BTC/USDT, was still reconciled
    assert run.discrepancies.filter(kind=Discrepancy.Kind.BALANCE, symbol="BTC/USDT").exists()


def test_an_order_executed_late_after_a_lost_answer_is_resolved_by_the_next_pass(rsim, broker):
    """The answer is lost and the lookups fail, so the order is `unknown`; Gate.io executes the request late
    (before its x-gate-exptime) and shows it after the visibility lag: reconciliation then finds it by text."""
    from apps.trading.services import order_create
    from apps.trading.submission import order_submit

    broker.load_markets()
    rsim.faults.set("create_order", late_execution_rate=1.0, late_ms=300, times=1)
    rsim.faults.set("get_order", error_rate=1.0)  # the lookup after the lost answer fails
    order = order_create(symbol="BTC/USDT", side="buy", type="limit", amount=Decimal("0.01"), price=Decimal(45000),
                         actor=SYSTEM)  # fmt: skip
    order = order_submit(order=order, broker=broker, actor=SYSTEM)
    assert order.status == OrderStatus.UNKNOWN and not order.exchange_order_id
    rsim.faults.clear()
    deadline = time.monotonic() + 30
    while not rsim.orders_with_text(order.client_order_id) and time.monotonic() < deadline:
        time.sleep(0.1)
    [late] = rsim.orders_with_text(order.client_order_id)
    time.sleep(LAG + 0.5)  # until the API shows it

    run = reconcile(broker=broker, actor=SYSTEM, symbols=["BTC/USDT"])

    order.refresh_from_db()
    assert (order.status, order.exchange_order_id) == (OrderStatus.OPEN, late.id), run.error
    assert run.discrepancies.filter(kind=Discrepancy.Kind.UNKNOWN_RESOLVED).count() == 1
    assert rsim.order_count() == 1
