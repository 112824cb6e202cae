"""An exits pass over 10,000 armed exits on 100 symbols: prints tickers calls (goal one) and pass time (goal
<= 300 ms) when nothing triggers, and when 1% triggers (100 exit orders sent and filled; goal <= 500 ms on
PostgreSQL, nothing sent twice), the SQL statements and transactions per exit order, and on PostgreSQL two
passes racing on the same triggered exits (each position must be sold exactly once). Each goal is printed next
to its figure, "met" or "NOT met".

Run: DATABASE_URL=postgres://postgres@127.0.0.1:5432/tb_bench .venv/bin/python bench/exits.py
     DATABASE_URL=sqlite:///data/bench.sqlite3 .venv/bin/python bench/exits.py
(BENCH_DATABASE_URL wins over DATABASE_URL; neither: data/bench_exits.sqlite3). The database name must contain
"bench": it is migrated and emptied of positions, exits, orders and fills at the start of every run (a missing
PostgreSQL bench database is created), so it runs again and again on the same database.

The broker is the real GateBroker (ccxt's gate class) talking HTTP to the bundled simulator listing the 100
symbols, with Gate.io's budget of orders per market (9 / s, under its 10). One open position per symbol is all
the schema allows, so 100 exits guard open positions (those are the 1% that trigger) and 9,900 are armed exits
of closed positions: for a pass that compares prices they cost exactly the same. The SQL is counted on a
separate pass of 100 exits all triggering (counting slows a pass). Prints figures only, asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from sqlcount import bench_database_url, count_sql, verdict  # noqa: E402

os.environ["DATABASE_URL"] = bench_database_url(ROOT / "data" / "bench_exits.sqlite3")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tradebot.settings")
os.environ["EXITS_ON_EXCHANGE"] = "false"
os.environ.setdefault("LOG_LEVEL", "WARNING")

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.utils import timezone  # noqa: E402

from apps.audit.actors import Actor  # noqa: E402
from apps.exchange.ccxt_broker import GateBroker  # noqa: E402
from apps.exchange.limiter import Budget, FileWindow, RateLimiter  # noqa: E402
from apps.exchange.simulator import ExchangeSimulator, SimulatorServer  # noqa: E402
from apps.exits.models import ProtectiveExit  # noqa: E402
from apps.exits.services import exits_check  # noqa: E402
from apps.trading.models import Fill, Order, Position  # noqa: E402
from apps.trading.venues import Venue  # noqa: E402

ACTOR = Actor.system("bench")
PRICE = Decimal("100")


class PassBreaker:
    def call(self, fn):
        return fn()

    def check(self) -> None:
        return None


class CountingBroker:
    """The GateBroker, counting the tickers calls the pass makes."""

    def __init__(self, inner: GateBroker) -> None:
        self.inner = inner
        self.name = inner.name
        self.tickers_calls = 0

    def fetch_tickers(self, symbols):
        self.tickers_calls += 1
        return self.inner.fetch_tickers(symbols)

    def __getattr__(self, name):
        return getattr(self.inner, name)


def reset_database() -> None:
    name = str(connection.settings_dict["NAME"])
    if "bench" not in name:
        sys.exit(f"refusing to empty {name!r}: use a database whose name contains 'bench'")
    if connection.vendor == "sqlite":
        Path(name).unlink(missing_ok=True)
        connection.close()
    call_command("migrate", verbosity=0)
    for model in (ProtectiveExit, Fill):
        model.objects.all().delete()
    Order.objects.all().delete()
    Position.objects.all().delete()


def seed(symbols: list[str], exits: int) -> None:
    """`exits` armed exits spread over `symbols`; the first exit of each symbol guards its open position."""
    now = timezone.now()
    per_symbol = exits // len(symbols)
    positions = []
    for s in symbols:
        for i in range(per_symbol):
            is_open = i == 0
            positions.append(
                Position(
                    venue=Venue.LIVE,
                    symbol=s,
                    status="open" if is_open else "closed",
                    amount=Decimal("1") if is_open else Decimal(0),
                    average_entry_price=PRICE,
                    cost_basis=PRICE if is_open else Decimal(0),
                    opened_at=now,
                    closed_at=None if is_open else now,
                )
            )
    positions = Position.objects.bulk_create(positions, batch_size=2000)
    open_positions = [p for p in positions if p.status == "open"]
    orders = Order.objects.bulk_create(
        [
            Order(
                venue=Venue.LIVE,
                client_order_id=f"t-bench-{p.pk}",
                symbol=p.symbol,
                side="buy",
                type="market",
                quote_amount=PRICE,
                status="filled",
                filled=Decimal("1"),
                cost=PRICE,
                average_price=PRICE,
                position=p,
            )
            for p in open_positions
        ]
    )
    Fill.objects.bulk_create(
        [
            Fill(venue=Venue.LIVE, exchange_trade_id=f"bench-{o.pk}", order=o, symbol=o.symbol, side="buy", price=PRICE,
                 amount=Decimal("1"), cost=PRICE, executed_at=now)
            for o in orders
        ]
    )  # fmt: skip
    ProtectiveExit.objects.bulk_create(
        [
            ProtectiveExit(
                position=p,
                symbol=p.symbol,
                entry_price=PRICE,
                stop_loss_price=Decimal("98"),
                take_profit_price=Decimal("104"),
                armed_at=now,
            )
            for p in positions
        ],
        batch_size=2000,
    )


def timed_pass(broker: CountingBroker) -> tuple[float, object, int, float]:
    broker.tickers_calls = 0
    network_before = broker.inner.network_seconds
    started = time.perf_counter()
    result = exits_check(broker=broker, actor=ACTOR)
    elapsed = (time.perf_counter() - started) * 1000
    return elapsed, result, broker.tickers_calls, (broker.inner.network_seconds - network_before) * 1000


def simulator_for(symbols: list[str], price: Decimal) -> tuple[ExchangeSimulator, SimulatorServer]:
    sim = ExchangeSimulator(
        balances={"USDT": Decimal("1000000"), **{s.split("/")[0]: Decimal("10") for s in symbols}},
        symbols=symbols,
        prices={s: price for s in symbols},
        seed=1,
    )
    return sim, SimulatorServer(sim, host="127.0.0.1", port=0).start()


def broker_for(server: SimulatorServer, limiter: RateLimiter) -> CountingBroker:
    gate = GateBroker(
        api_key="sim-key",
        api_secret="sim-secret",
        api_url=server.url,
        limiter=limiter,
        breakers={c: PassBreaker() for c in ("public", "private_orders", "private_account", "private_reads")},
    )
    broker = CountingBroker(gate)
    broker.load_markets()
    return broker


def sells_per_symbol(sim: ExchangeSimulator) -> Counter:
    """Sell orders the exchange received, per symbol (each position is sold once: one each)."""
    orders = sim.open_orders() + sim.finished_orders()
    return Counter(o.pair for o in orders if o.side == "sell")


def trigger_one_percent(sim: ExchangeSimulator, symbols: list[str]) -> set[int]:
    """Move the stops of the exits of open positions to 99.5 and the prices to 99: exactly those trigger."""
    open_ids = set(Position.objects.filter(status="open").values_list("pk", flat=True))
    ProtectiveExit.objects.filter(position_id__in=open_ids).update(stop_loss_price=Decimal("99.5"))
    for s in symbols:  # 99 is below the 1% of stops at 99.5, above every other stop at 98
        sim.set_price(s, Decimal("99"))
    return open_ids


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--exits", type=int, default=10_000)
    parser.add_argument("--symbols", type=int, default=100)
    parser.add_argument("--runs", type=int, default=5, help="quiet passes to time")
    args = parser.parse_args()

    symbols = [f"B{i:03d}/USDT" for i in range(args.symbols)]
    on_pg = connection.vendor == "postgresql"
    met_all = True
    reset_database()
    seed(symbols, args.exits)
    sim, server = simulator_for(symbols, PRICE)
    with tempfile.TemporaryDirectory() as tmp:
        limiter = RateLimiter(
            FileWindow(Path(tmp)), {"gateio": Budget(10_000, 10.0), "gateio_orders": Budget(9, 1.0)}, 10
        )
        broker = broker_for(server, limiter)
        armed = ProtectiveExit.objects.filter(status="armed", position__venue=Venue.LIVE).count()
        print(f"database: {connection.vendor}; {armed} armed exits on {len(symbols)} symbols")
        print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")

        exits_check(broker=broker, actor=ACTOR)  # warm-up (connections, caches)
        samples = [timed_pass(broker) for _ in range(args.runs)]
        times = [s[0] for s in samples]
        _, result, calls, network = samples[-1]
        quiet = statistics.median(times)
        ok = calls == 1 and quiet <= 300
        met_all &= ok
        print(
            f"nothing triggers: tickers calls per pass {calls}, pass median {quiet:.1f} ms "
            f"(min {min(times):.1f}, max {max(times):.1f}; of which HTTP {network:.1f} ms), "
            f"checked {result.checked}, triggered {result.triggered}   goal 1 call, <= 300 ms: {verdict(ok)}"
        )

        open_ids = trigger_one_percent(sim, symbols)
        elapsed, result, calls, network = timed_pass(broker)
        closed = Position.objects.filter(pk__in=open_ids, status="closed").count()
        sells = sells_per_symbol(sim)
        twice = sum(1 for n in sells.values() if n > 1)
        print(
            f"1% triggers: tickers calls {calls}, pass {elapsed:.1f} ms (HTTP {network:.1f} ms), "
            f"triggered {result.triggered}, orders sent {result.orders_sent}, positions closed {closed}, "
            f"errors {len(result.errors)}"
        )
        ok = elapsed <= 500 and result.triggered == len(open_ids) and closed == len(open_ids)
        met_all &= ok or not on_pg
        goal = verdict(ok) if on_pg else f"{verdict(ok)} (the goal is for PostgreSQL)"
        print(f"  goal {len(open_ids)} triggering of {armed} in <= 500 ms on PostgreSQL, all closed: {goal}")
        ok = twice == 0 and sum(sells.values()) == len(open_ids)
        met_all &= ok
        print(f"  goal nothing sent twice: {sum(sells.values())} sells on {len(sells)} symbols: {verdict(ok)}")
        elapsed, result, calls, _ = timed_pass(broker)
        ok = result.orders_sent == 0 and sum(sells_per_symbol(sim).values()) == len(open_ids)
        met_all &= ok
        print(
            f"next pass: tickers calls {calls}, pass {elapsed:.1f} ms, orders sent {result.orders_sent}"
            f"   goal none sent again: {verdict(ok)}"
        )
    server.stop()
    counted_pass(symbols)
    if on_pg:
        met_all &= concurrent_passes(symbols, args.exits)
    else:
        print("two concurrent passes: PostgreSQL only (SQLite serialises writers)")
    print(f"goals that apply to {connection.vendor}: " + ("all met" if met_all else "NOT all met (see above)"))


def counted_pass(symbols: list[str]) -> None:
    """The SQL of the triggering pass, counted on its own (counting slows the pass): one exit per symbol, every
    one triggering, so the figures are those of the exit orders (plus the pass's own reads)."""
    reset_database()
    seed(symbols, len(symbols))
    sim, server = simulator_for(symbols, PRICE)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            limiter = RateLimiter(
                FileWindow(Path(tmp)), {"gateio": Budget(10_000, 10.0), "gateio_orders": Budget(9, 1.0)}, 10
            )
            broker = broker_for(server, limiter)
            trigger_one_percent(sim, symbols)
            timed = {}
            sql = count_sql(lambda: timed.setdefault("pass", timed_pass(broker)))
    finally:
        server.stop()
    result = timed["pass"][1]
    sent = max(result.orders_sent, 1)
    print(
        f"SQL of a pass sending {result.orders_sent} exit orders: {sql.statements} statements in"
        f" {sql.transactions} transactions ({sql.statements / sent:.1f} statements,"
        f" {sql.transactions / sent:.1f} transactions per exit order); repeated SELECTs of the same rows:"
        f" {sql.repeated_selects}"
    )
    print(f"  by kind: {sql.summary()}")


def concurrent_passes(symbols: list[str], exits: int) -> bool:
    """The same 1% triggering, but two exits passes (two workers, two connections) at the same moment: each
    position must still be sold exactly once."""
    reset_database()
    seed(symbols, exits)
    sim, server = simulator_for(symbols, PRICE)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            limiter = RateLimiter(
                FileWindow(Path(tmp)), {"gateio": Budget(10_000, 10.0), "gateio_orders": Budget(9, 1.0)}, 10
            )
            brokers = [broker_for(server, limiter) for _ in range(2)]
            open_ids = trigger_one_percent(sim, symbols)
            barrier = threading.Barrier(2)
            results = [None, None]

            def run(i: int) -> None:
                try:
                    barrier.wait()
                    results[i] = exits_check(broker=brokers[i], actor=ACTOR)
                finally:
                    connection.close()

            threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
            started = time.perf_counter()
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            elapsed = (time.perf_counter() - started) * 1000
        sells = sells_per_symbol(sim)
        closed = Position.objects.filter(pk__in=open_ids, status="closed").count()
        sent = [r.orders_sent if r else None for r in results]
        errors = sum(len(r.errors) for r in results if r)
        ok = all(n == 1 for n in sells.values()) and len(sells) == len(open_ids) and closed == len(open_ids)
        print(
            f"two concurrent passes: {elapsed:.0f} ms, orders sent {sent}, {sum(sells.values())} sells on "
            f"{len(sells)} symbols, positions closed {closed}, errors {errors}   goal each sold once: {verdict(ok)}"
        )
        return ok
    finally:
        server.stop()


if __name__ == "__main__":
    main()
