"""The shared rate limiter: a sliding window across processes (Redis, and the embedded file ring)."""

from __future__ import annotations

import multiprocessing
import time
from decimal import Decimal

import pytest

from apps.exchange.broker import RateLimitWaitExceeded
from apps.exchange.limiter import Budget, limiter_stats
from tests.exchange.brokers import make_broker, make_limiter, make_sim, serve

BACKENDS = ["file", "redis"]


@pytest.fixture(params=BACKENDS)
def limiter_factory(request, tmp_path):
    if request.param == "redis":
        url = request.getfixturevalue("redis_url")
        return lambda **kw: make_limiter(redis_url=url, **kw)
    return lambda **kw: make_limiter(tmp_path / "ratelimit", **kw)


def test_no_window_holds_more_than_the_budget(limiter_factory):
    limiter = limiter_factory(max_wait=10)
    budget = Budget(10, 0.5)
    stamps = []
    for _ in range(35):
        limiter.acquire("unit", budget=budget)
        stamps.append(time.monotonic())
    for i in range(len(stamps) - 10):
        assert stamps[i + 10] - stamps[i] >= 0.5 - 0.005  # the 11th call is a full period after the 1st
    assert stamps[-1] - stamps[0] >= 1.5 - 0.01


def test_a_wait_longer_than_the_bound_is_refused_at_once_and_counted(limiter_factory):
    limiter = limiter_factory(max_wait=0.2)
    budget = Budget(2, 10)
    limiter.acquire("bounded", budget=budget)
    limiter.acquire("bounded", budget=budget)
    started = time.monotonic()
    with pytest.raises(RateLimitWaitExceeded) as info:
        limiter.acquire("bounded", budget=budget)
    assert time.monotonic() - started < 0.1
    assert info.value.retry_after > 9
    assert limiter_stats()["bounded"]["refused"] >= 1


def test_waits_are_bounded_and_counted(limiter_factory):
    limiter = limiter_factory(max_wait=2)
    budget = Budget(2, 0.3)
    before = limiter_stats().get("counted", {}).get("waits", 0)
    waited = [limiter.acquire("counted", budget=budget) for _ in range(4)]
    assert waited[0] == 0 and 0 < max(waited) <= 0.35
    assert limiter_stats()["counted"]["waits"] - before >= 1


def _hammer(url: str, limiter_kwargs: dict, calls: int, results) -> None:
    limiter = make_limiter(**limiter_kwargs)
    broker = make_broker(url, limiter)
    errors = 0
    for i in range(calls):
        try:
            if i % 2:
                broker.fetch_ticker("BTC/USDT")
            else:
                broker.fetch_balance()
        except Exception:  # counted: the parent asserts on it
            errors += 1
    results.put(errors)


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
def test_four_processes_hammering_the_simulator_get_no_429(backend, tmp_path, request):
    # The simulator allows 40 calls per second; our budget is 36 per second with the same window.
    sim = make_sim(rate_limit=40, rate_window_sec=1.0)
    server = serve(sim)
    try:
        make_broker(server.url, make_limiter(tmp_path / "warm", calls=1000)).load_markets()
        sim.limiter.reset()
        kwargs = {"calls": 36, "period": 1.0, "max_wait": 30}
        if backend == "redis":
            kwargs["redis_url"] = request.getfixturevalue("redis_url")
        else:
            kwargs["directory"] = tmp_path / "shared"
        ctx = multiprocessing.get_context("fork")
        results = ctx.Queue()
        procs = [ctx.Process(target=_hammer, args=(server.url, kwargs, 30, results)) for _ in range(4)]
        started = time.monotonic()
        for p in procs:
            p.start()
        errors = [results.get(timeout=60) for _ in procs]
        for p in procs:
            p.join(10)
        elapsed = time.monotonic() - started
    finally:
        server.stop()
    assert errors == [0, 0, 0, 0]
    assert sim.rate_limited_count == 0
    # 4 x (30 + load_markets' 2) calls at 36 / s cannot finish in less than ~3 s: the limiter did hold them.
    assert elapsed >= 2.5
    assert sum(server.calls.values()) >= 4 * 30


def test_order_placement_has_its_own_per_market_bucket(tmp_path, sim_server):
    from apps.exchange.types import OrderRequest

    limiter = make_limiter(tmp_path, order_calls=2, max_wait=5)
    broker = make_broker(sim_server.url, limiter)
    broker.load_markets()
    started = time.monotonic()
    for i in range(3):
        broker.create_order(
            OrderRequest("BTC/USDT", "buy", "limit", f"t-tb-rate{i}", amount=Decimal("0.001"), price=Decimal("40000"))
        )
    assert time.monotonic() - started >= 0.9  # the third order waited for the per-market second
    assert limiter_stats()["gateio_orders:BTC_USDT"]["waits"] >= 1
