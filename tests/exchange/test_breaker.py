"""Circuit breakers: a storm opens them, nothing goes out while open, one probe after the cool-down,
state shared across processes (Redis, and BreakerState rows in the embedded default)."""

from __future__ import annotations

import multiprocessing
from datetime import datetime, timedelta

import pytest
from django.db import connections

from apps.audit.models import AuditLog
from apps.common.clock import ManualClock
from apps.exchange.breaker import CircuitBreaker, DbStore, RedisStore
from apps.exchange.broker import CircuitOpen, TransientExchangeError
from apps.exchange.models import BreakerState
from tests.exchange.brokers import make_breakers, make_broker, make_limiter

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def clock() -> ManualClock:
    """Time for the breakers and their stores: the tests advance it instead of sleeping."""
    return ManualClock()


@pytest.fixture(params=["db", "redis"])
def store(request, clock):
    if request.param == "redis":
        return RedisStore(request.getfixturevalue("redis_url"), clock=clock)
    return DbStore(clock=clock)


def fail():
    raise TransientExchangeError("502 Bad Gateway")


def test_consecutive_failures_open_it_and_open_refuses_without_calling(store, clock):
    breaker = CircuitBreaker("gateio:unit", store, threshold=3, cooldown=30, clock=clock)
    for _ in range(3):
        with pytest.raises(TransientExchangeError):
            breaker.call(fail)
    assert breaker.state() == "open"
    called = []
    with pytest.raises(CircuitOpen):
        breaker.call(lambda: called.append(1))
    assert called == []


def test_a_success_resets_the_count(store):
    breaker = CircuitBreaker("gateio:reset", store, threshold=3, cooldown=30)
    for _ in range(2):
        with pytest.raises(TransientExchangeError):
            breaker.call(fail)
    breaker.call(lambda: "ok")
    for _ in range(2):
        with pytest.raises(TransientExchangeError):
            breaker.call(fail)
    assert breaker.state() == "closed"


def test_business_errors_do_not_open_it(store):
    from apps.exchange.broker import InsufficientFunds

    breaker = CircuitBreaker("gateio:biz", store, threshold=2, cooldown=30)
    for _ in range(5):
        with pytest.raises(InsufficientFunds):
            breaker.call(lambda: (_ for _ in ()).throw(InsufficientFunds("no money")))
    assert breaker.state() == "closed"


def test_half_open_probe_failure_reopens_and_success_closes(store, clock):
    breaker = CircuitBreaker("gateio:probe", store, threshold=1, cooldown=30, clock=clock)
    with pytest.raises(TransientExchangeError):
        breaker.call(fail)
    clock.advance(29)
    with pytest.raises(CircuitOpen):
        breaker.call(lambda: "still cooling down")
    clock.advance(2)
    with pytest.raises(TransientExchangeError):
        breaker.call(fail)  # the probe
    assert breaker.state() == "open"
    with pytest.raises(CircuitOpen):
        breaker.call(lambda: "too early")
    clock.advance(31)
    assert breaker.call(lambda: "ok") == "ok"
    assert breaker.state() == "closed"
    actions = list(AuditLog.objects.filter(object_id="gateio:probe").values_list("action", flat=True))
    assert {"breaker.open", "breaker.half_open", "breaker.closed"} <= set(actions)
    assert BreakerState.objects.get(name="gateio:probe").state == "closed"


def _clocked(kind: str, url: str, at: datetime) -> CircuitBreaker:
    """This process's breaker on the shared state, its clock at `at` (the processes agree on the time)."""
    clock = ManualClock(at)
    store = RedisStore(url, clock=clock) if kind == "redis" else DbStore(clock=clock)
    return CircuitBreaker("gateio:shared", store, threshold=2, cooldown=30, clock=clock)


def _race_for_probe(kind: str, url: str, at: datetime, results) -> None:
    for conn in connections.all(initialized_only=True):
        conn.connection = None  # the parent's socket is not ours: open our own connection
    breaker = _clocked(kind, url, at)
    try:
        results.put(("probe", breaker.before()))
    except CircuitOpen:
        results.put(("refused", None))
    finally:
        connections.close_all()


def _observe(kind: str, url: str, at: datetime, results) -> None:
    for conn in connections.all(initialized_only=True):
        conn.connection = None
    breaker = _clocked(kind, url, at)
    try:
        breaker.call(lambda: "should not run")
        results.put("called")
    except CircuitOpen:
        results.put("refused")
    finally:
        connections.close_all()


@pytest.mark.parametrize("kind", ["db", "redis"])
def test_state_is_shared_across_processes_and_exactly_one_probe_goes_through(kind, request):
    url = request.getfixturevalue("redis_url") if kind == "redis" else ""
    start = ManualClock().now()
    breaker = _clocked(kind, url, start)
    for _ in range(2):
        with pytest.raises(TransientExchangeError):
            breaker.call(fail)
    ctx = multiprocessing.get_context("fork")
    results = ctx.Queue()
    observer = ctx.Process(target=_observe, args=(kind, url, start + timedelta(seconds=10), results))
    observer.start()
    assert results.get(timeout=20) == "refused"  # another process sees it open
    observer.join(5)
    after_cooldown = start + timedelta(seconds=31)
    racers = [ctx.Process(target=_race_for_probe, args=(kind, url, after_cooldown, results)) for _ in range(4)]
    for p in racers:
        p.start()
    outcomes = [results.get(timeout=20) for _ in racers]
    for p in racers:
        p.join(5)
    assert sorted(o[0] for o in outcomes) == ["probe", "refused", "refused", "refused"]
    assert breaker.state() == "half_open"


def test_a_5xx_storm_over_http_opens_it_and_it_recovers(sim, sim_server, tmp_path, clock):
    breakers = make_breakers(DbStore(clock=clock), threshold=3, cooldown=30, clock=clock)
    broker = make_broker(sim_server.url, make_limiter(tmp_path), breakers=breakers)
    broker.load_markets()
    sim.faults.set("tickers", error_rate=1.0, error_status=503)
    calls_before = sim_server.calls["tickers"]
    with pytest.raises(CircuitOpen):
        broker.fetch_ticker("BTC/USDT")  # three retried attempts fail, the fourth is refused by the breaker
    assert sim_server.calls["tickers"] - calls_before == 3
    assert breakers["public"].state() == "open"
    for _ in range(20):
        with pytest.raises(CircuitOpen):
            broker.fetch_ticker("BTC/USDT")
    assert sim_server.calls["tickers"] - calls_before == 3  # nothing went out while open
    sim.faults.clear()
    clock.advance(31)
    assert broker.fetch_ticker("BTC/USDT").last > 0  # the half-open probe
    assert breakers["public"].state() == "closed"
    assert breakers["private_orders"].state() == "closed"  # endpoint classes are separate


def test_a_429_storm_opens_it_too(sim, sim_server, tmp_path, clock):
    breakers = make_breakers(DbStore(clock=clock), threshold=3, cooldown=30, clock=clock)
    broker = make_broker(sim_server.url, make_limiter(tmp_path), breakers=breakers)
    sim.faults.set("accounts", rate_limit_rate=1.0)
    with pytest.raises(CircuitOpen):
        broker.fetch_balance()
    assert breakers["private_account"].state() == "open"
    sim.faults.clear()
    clock.advance(31)
    assert broker.fetch_balance()["USDT"].free > 0
    assert breakers["private_account"].state() == "closed"
