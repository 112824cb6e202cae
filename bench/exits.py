"""An exits pass over 10,000 armed exits on 100 symbols: prints tickers calls (goal one) and pass time (goal
<= 300 ms) when nothing triggers, and when 1% triggers (100 exit orders sent and filled).

Run: DATABASE_URL=postgres://postgres@127.0.0.1:5432/tb_exits_bench .venv/bin/python bench/exits.py
(default: a fresh SQLite file data/bench_exits.sqlite3). The database name must contain "bench": it is
migrated and emptied of positions, exits, orders and fills.

The broker is the real GateBroker (ccxt's gate class) talking HTTP to the bundled simulator listing the 100
symbols. One open position per symbol is all the schema allows, so 100 exits guard open positions (those are
the 1% that trigger) and 9,900 are armed exits of closed positions: for a pass that compares prices they cost
exactly the same. Prints figures only, asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DATABASE_URL", f"sqlite:///{ROOT / 'data' / 'bench_exits.sqlite3'}")
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
            Fill(exchange_trade_id=f"bench-{o.pk}", order=o, symbol=o.symbol, side="buy", price=PRICE,
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--exits", type=int, default=10_000)
    parser.add_argument("--symbols", type=int, default=100)
    parser.add_argument("--runs", type=int, default=5, help="quiet passes to time")
    args = parser.parse_args()

    symbols = [f"B{i:03d}/USDT" for i in range(args.symbols)]
    reset_database()
    seed(symbols, args.exits)
    sim = ExchangeSimulator(
        balances={"USDT": Decimal("1000000"), **{s.split("/")[0]: Decimal("10") for s in symbols}},
        symbols=symbols,
        prices={s: PRICE for s in symbols},
        seed=1,
    )
    server = SimulatorServer(sim, host="127.0.0.1", port=0).start()
    with tempfile.TemporaryDirectory() as tmp:
        limiter = RateLimiter(
            FileWindow(Path(tmp)), {"gateio": Budget(10_000, 10.0), "gateio_orders": Budget(100, 1.0)}, 10
        )
        gate = GateBroker(
            api_key="sim-key",
            api_secret="sim-secret",
            api_url=server.url,
            limiter=limiter,
            breakers={c: PassBreaker() for c in ("public", "private_orders", "private_account")},
        )
        broker = CountingBroker(gate)
        broker.load_markets()
        armed = ProtectiveExit.objects.filter(status="armed").count()
        print(f"database: {connection.vendor}; {armed} armed exits on {len(symbols)} symbols")

        exits_check(broker=broker, actor=ACTOR)  # warm-up (connections, caches)
        samples = [timed_pass(broker) for _ in range(args.runs)]
        times = [s[0] for s in samples]
        _, result, calls, network = samples[-1]
        print(
            f"nothing triggers: tickers calls per pass {calls}, pass median {statistics.median(times):.1f} ms "
            f"(min {min(times):.1f}, max {max(times):.1f}; of which HTTP {network:.1f} ms), "
            f"checked {result.checked}, triggered {result.triggered}"
        )

        open_ids = dict(Position.objects.filter(status="open").values_list("pk", "symbol"))
        ProtectiveExit.objects.filter(position_id__in=open_ids).update(stop_loss_price=Decimal("99.5"))
        for s in symbols:  # 99 is below the 1% of stops at 99.5, above every other stop at 98
            sim.set_price(s, Decimal("99"))
        elapsed, result, calls, network = timed_pass(broker)
        closed = Position.objects.filter(pk__in=open_ids, status="closed").count()
        print(
            f"1% triggers: tickers calls {calls}, pass {elapsed:.1f} ms (HTTP {network:.1f} ms), "
            f"triggered {result.triggered}, orders sent {result.orders_sent}, positions closed {closed}, "
            f"errors {len(result.errors)}"
        )
        elapsed, result, calls, _ = timed_pass(broker)
        print(f"next pass: tickers calls {calls}, pass {elapsed:.1f} ms, orders sent {result.orders_sent}")
    server.stop()


if __name__ == "__main__":
    main()
