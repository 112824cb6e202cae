"""Circuit breakers: a storm opens them, nothing goes out while open, one probe after the cool-down,
state shared across processes (Redis, and BreakerState rows in the embedded default)."""

from __future__ import annotations

import multiprocessing
import time

import pytest
from django.db import connections

from apps.audit.models import AuditLog
from apps.exchange.breaker import CircuitBreaker, DbStore, RedisStore
from apps.exchange.broker import CircuitOpen, TransientExchangeError
from apps.exchange.models import BreakerState
from tests.exchange.brokers import make_breakers, make_broker, make_limiter

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(params=["db", "redis"])
def store(request):
    if request.param == "redis":
        return RedisStore(request.getfixturevalue("redis_url"))
    return DbStore()


def fail():
    raise TransientExchangeError("502 Bad Gateway")


def test_consecutive_failures_open_it_and_open_refuses_without_calling(store):
    breaker = CircuitBreaker("gateio:unit", store, threshold=3, cooldown=30)
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


def test_half_open_probe_failure_reopens_and_success_closes(store):
    breaker = CircuitBreaker("gateio:probe", store, threshold=1, cooldown=0.2)
    with pytest.raises(TransientExchangeError):
        breaker.call(fail)
    time.sleep(0.25)
    with pytest.raises(TransientExchangeError):
        breaker.call(fail)  # the probe
    assert breaker.state() == "open"
    with pytest.raises(CircuitOpen):
        breaker.call(lambda: "too early")
    time.sleep(0.25)
    assert breaker.call(lambda: "ok") == "ok"
    assert breaker.state() == "closed"
    actions = list(AuditLog.objects.filter(object_id="gateio:probe").values_list("action", flat=True))
    assert {"breaker.open", "breaker.half_open", "breaker.closed"} <= set(actions)
    assert BreakerState.objects.get(name="gateio:probe").state == "closed"


def _race_for_probe(kind: str, url: str, results) -> None:
    for conn in connections.all(initialized_only=True):
        conn.connection = None  # the parent's socket is not ours: open our own connection
    store = RedisStore(url) if kind == "redis" else DbStore()
    breaker = CircuitBreaker("gateio:shared", store, threshold=2, cooldown=0.3)
    try:
        results.put(("probe", breaker.before()))
    except CircuitOpen:
        results.put(("refused", None))
    finally:
        connections.close_all()


def _observe(kind: str, url: str, results) -> None:
    for conn in connections.all(initialized_only=True):
        conn.connection = None
    store = RedisStore(url) if kind == "redis" else DbStore()
    breaker = CircuitBreaker("gateio:shared", store, threshold=2, cooldown=0.3)
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
    store = RedisStore(url) if kind == "redis" else DbStore()
    breaker = CircuitBreaker("gateio:shared", store, threshold=2, cooldown=0.3)
    for _ in range(2):
        with pytest.raises(TransientExchangeError):
            breaker.call(fail)
    ctx = multiprocessing.get_context("fork")
    results = ctx.Queue()
    observer = ctx.Process(target=_observe, args=(kind, url, results))
    observer.start()
    assert results.get(timeout=20) == "refused"  # another process sees it open
    observer.join(5)
    time.sleep(0.35)
    racers = [ctx.Process(target=_race_for_probe, args=(kind, url, results)) for _ in range(4)]
    for p in racers:
        p.start()
    outcomes = [results.get(timeout=20) for _ in racers]
    for p in racers:
        p.join(5)
    assert sorted(o[0] for o in outcomes) == ["probe", "refused", "refused", "refused"]
    assert breaker.state() == "half_open"


def test_a_5xx_storm_over_http_opens_it_and_it_recovers(sim, sim_server, tmp_path):
    breakers = make_breakers(threshold=3, cooldown=0.5)
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
    time.sleep(0.55)
    assert broker.fetch_ticker("BTC/USDT").last > 0  # the half-open probe
    assert breakers["public"].state() == "closed"
    assert breakers["private_orders"].state() == "closed"  # endpoint classes are separate


def test_a_429_storm_opens_it_too(sim, sim_server, tmp_path):
    breakers = make_breakers(threshold=3, cooldown=0.5)
    broker = make_broker(sim_server.url, make_limiter(tmp_path), breakers=breakers)
    sim.faults.set("accounts", rate_limit_rate=1.0)
    with pytest.raises(CircuitOpen):
        broker.fetch_balance()
    assert breakers["private_account"].state() == "open"
    sim.faults.clear()
    time.sleep(0.55)
    assert broker.fetch_balance()["USDT"].free > 0
    assert breakers["private_account"].state() == "closed"
