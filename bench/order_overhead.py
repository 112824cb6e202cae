"""Our own overhead for placing an order: prints p50 / p99. Goal p99 <= 5 ms.

Run: .venv/bin/python bench/order_overhead.py [--orders N] [--redis]

Each order goes through `order_submit` (state transitions, audit rows, exchange id, fills) with the real
GateBroker (ccxt's gate class, the shared limiter, the circuit breaker) against the bundled simulator, which
runs in its own process, over HTTP on loopback. The time spent inside HTTP requests (simulator included) is
measured around each request and subtracted: what remains is ours (database, limiter, breaker, ccxt).
Two figures: that wall time, and the CPU time of our thread (not inflated by a busy machine; it includes
ccxt's request building and parsing, which the wall figure partly excludes).
The limiter's budget is raised so no call has to *wait* (queueing under the budget is not overhead); its
bookkeeping still runs for every request. The database is a fresh SQLite file unless BENCH_DATABASE_URL is
set (e.g. postgres://postgres@127.0.0.1:5432/tb_bench); `--redis` keeps the limiter and breaker state in
REDIS_URL (or redis://127.0.0.1:6379/13) instead of the file ring and BreakerState rows.
Prints figures, asserts nothing.
"""

from __future__ import annotations

import argparse
import cProfile
import multiprocessing
import os
import pstats
import statistics
import sys
import tempfile
import threading
import time
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(pct / 100 * (len(ordered) - 1))))]


def count_statements(work) -> dict[str, int]:
    """SQL statements `work()` runs, and the transactions it commits: explicit commits (the outermost
    atomic blocks) plus writes made outside any block (each its own transaction in autocommit)."""
    from django.db import connection

    counts = {"statements": 0, "transactions": 0}

    def wrapper(execute, sql, params, many, context):
        counts["statements"] += 1
        if os.environ.get("BENCH_SHOW_SQL"):
            print("   SQL", ("[autocommit] " if connection.get_autocommit() else "") + sql[:150])
        verb = sql.lstrip().split(" ", 1)[0].upper()
        if connection.get_autocommit() and verb in ("INSERT", "UPDATE", "DELETE"):
            counts["transactions"] += 1
        return execute(sql, params, many, context)

    commit = connection.commit

    def counted_commit():
        counts["transactions"] += 1
        return commit()

    connection.commit = counted_commit
    try:
        with connection.execute_wrapper(wrapper):
            work()
    finally:
        del connection.commit
    return counts


def serve_simulator(urls, seed: int) -> None:
    from apps.exchange.simulator import ExchangeSimulator, SimulatorServer

    sim = ExchangeSimulator(
        balances={"USDT": Decimal("10000000"), "BTC": Decimal("100")},
        symbols=["BTC/USDT"],
        prices={"BTC/USDT": Decimal("50000")},
        rate_limit=10**9,
        order_rate_limit=10**9,  # Gate.io's 10 orders / s per market would pace the benchmark, not measure it
        seed=seed,
    )
    server = SimulatorServer(sim, host="127.0.0.1", port=0).start()
    urls.put(server.url)
    threading.Event().wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=300, help="orders of each kind (default 300)")
    parser.add_argument("--redis", action="store_true", help="limiter and breaker state in Redis")
    parser.add_argument("--profile", action="store_true", help="also print where order_submit spends its time")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="tb-bench-"))
    os.environ["DATABASE_URL"] = os.environ.get("BENCH_DATABASE_URL") or f"sqlite:///{workdir / 'bench.sqlite3'}"
    redis_url = (os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/13") if args.redis else ""
    os.environ["REDIS_URL"] = redis_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tradebot.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)

    from apps.audit.actors import SYSTEM
    from apps.exchange.breaker import CircuitBreaker, DbStore, RedisStore
    from apps.exchange.ccxt_broker import GateBroker
    from apps.exchange.limiter import Budget, FileWindow, RateLimiter, RedisWindow
    from apps.trading.submission import order_submit
    from apps.trading.services import order_create

    # The simulator runs in its own process, so its work does not compete with ours for the GIL.
    ctx = multiprocessing.get_context("fork")
    urls = ctx.Queue()
    # The simulator numbers its orders from its seed: a seed from the clock keeps a second run on the same
    # database (BENCH_DATABASE_URL) clear of the first run's exchange order ids (unique per exchange).
    seed = int(time.time())
    simulator = ctx.Process(target=serve_simulator, args=(urls, seed), daemon=True)
    simulator.start()
    url = urls.get(timeout=30)
    store = RedisWindow(redis_url) if redis_url else FileWindow(workdir / "ratelimit")
    limiter = RateLimiter(store, {"gateio": Budget(10**6, 10), "gateio_orders": Budget(10**6, 1)}, 10)
    breaker_store = RedisStore(redis_url) if redis_url else DbStore()
    breakers = {
        cls: CircuitBreaker(f"bench:{cls}", breaker_store, threshold=5, cooldown=30)
        for cls in ("public", "private_orders", "private_account")
    }
    broker = GateBroker(api_key="sim-key", api_secret="sim-secret", api_url=url, limiter=limiter, breakers=breakers)
    broker.load_markets()

    profiler = cProfile.Profile() if args.profile else None

    def place(kind: str, i: int) -> tuple[float, float]:
        if kind == "limit":
            params = {"type": "limit", "side": "buy", "amount": Decimal("0.001"), "price": Decimal("40000")}
        else:
            params = {"type": "market", "side": "buy", "quote_amount": Decimal("20")}
        order = order_create(symbol="BTC/USDT", actor=SYSTEM, intent=f"bench-{kind}-{i}-{time.time_ns()}", **params)
        network_before = broker.network_seconds
        cpu_started = time.thread_time()
        started = time.perf_counter()
        if profiler is not None:
            profiler.enable()
        order = order_submit(order=order, broker=broker, actor=SYSTEM)
        if profiler is not None:
            profiler.disable()
        total = time.perf_counter() - started
        cpu = time.thread_time() - cpu_started
        network = broker.network_seconds - network_before
        return (total - network) * 1000, cpu * 1000, network * 1000

    try:
        backend = "Redis" if redis_url else "file ring + BreakerState rows"
        print(f"order_submit overhead, {args.orders} orders each; database {os.environ['DATABASE_URL'].split(':')[0]}")
        print(f"limiter / breaker state: {backend}")
        for kind, label in (("limit", "limit order (rests; 1 request)"), ("market", "market buy (fills; 2 requests)")):
            for i in range(20):  # warm-up: connections, caches, first-query costs
                place(kind, -i - 1)
            ours, cpu, network = zip(*(place(kind, i) for i in range(args.orders)), strict=True)
            counted = count_statements(lambda kind=kind: place(kind, args.orders))
            print(
                f"  {label:34s} ours (wall) p50 {percentile(ours, 50):6.2f} ms  p99 {percentile(ours, 99):6.2f} ms"
                f"  | our thread's CPU p50 {percentile(cpu, 50):6.2f} ms  p99 {percentile(cpu, 99):6.2f} ms"
                f"  | network+simulator p50 {statistics.median(network):6.2f} ms"
            )
            print(
                f"  {'':34s} {counted['statements']} SQL statements in {counted['transactions']} transactions"
                f" (create and submit; goal for a limit order: <= 6 statements)"
            )
        if profiler is not None:
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(40)
        load = os.getloadavg()[0]
        print(f"goal: p99 of ours <= 5 ms. Load average now {load:.1f} on {os.cpu_count()} CPUs: on a busy machine")
        print("the wall figures include waiting for the CPU; the thread's CPU time does not.")
    finally:
        simulator.terminate()


if __name__ == "__main__":
    main()
