"""Reconciling 10,000 orders of the last 24 h on the simulator: prints exchange calls, CPU seconds and wall time.
Goals: <= 15 exchange calls, <= 2 s CPU. Prints figures, asserts nothing.

Run: .venv/bin/python bench/reconcile.py [--orders N] [--database-url URL]

The simulator runs in a child process (its CPU is not ours), seeded with N orders on BTC/USDT: finished
historical orders with their trades (a tenth cancelled after a partial fill), 60 resting orders and 5 orders
placed "by hand". The local database gets the matching orders and fills in bulk, with drift: the 40 most
recent orders filled while the bot was down, 5 left `unknown` without an exchange id, 10 resting orders
cancelled behind the bot's back, and the 5 hand-made ones unknown to us. CPU is `time.process_time()` of this
process around the one `reconcile()` call (ccxt parsing and our database work included). By default the
database is a fresh SQLite file in a temporary directory; pass a PostgreSQL URL to use that instead
(its tables are created by `migrate`, and the bench's rows are left there).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SYMBOL = "BTC/USDT"
OPEN_ORDERS = 60
BY_HAND = 5
FILLED_WHILE_DOWN = 40
UNKNOWN = 5
CANCELLED_BEHIND = 10


def _order_row(o) -> dict:
    return {
        "id": o.id,
        "text": o.text,
        "side": o.side,
        "type": o.type,
        "amount": o.amount,
        "price": o.price,
        "status": o.status,
        "finish_as": o.finish_as,
        "filled": o.filled_amount,
        "filled_total": o.filled_total,
        "fee": o.fee,
        "fee_currency": o.fee_currency,
        "create_ms": o.create_ms,
    }


def _trade_row(t) -> dict:
    return {
        "id": t.id,
        "order_id": t.order_id,
        "amount": t.amount,
        "price": t.price,
        "fee": t.fee,
        "fee_currency": t.fee_currency,
        "create_us": t.create_us,
        "maker": t.role == "maker",
    }


def serve_simulator(conn, orders: int) -> None:
    """The child: seed, serve, report what it holds, then wait for the word to stop."""
    from apps.exchange.simulator import ExchangeSimulator, SimulatorServer

    sim = ExchangeSimulator(
        balances={"USDT": Decimal("10000000"), "BTC": Decimal("0")},
        symbols=[SYMBOL, "ETH/USDT"],
        seed=7,
        prices={SYMBOL: Decimal("50000")},
        cancelled_retention_sec=3600,
        rate_limit=10_000,
    )
    history = sim.add_historical_orders(
        SYMBOL, orders - OPEN_ORDERS - BY_HAND, hours=24, text_prefix="t-bench", cancelled_share=0.1
    )
    resting = [
        sim.place_order(
            symbol=SYMBOL,
            side="buy",
            type="limit",
            amount=Decimal("0.001"),
            price=Decimal(40000 - n),
            text=f"t-open-{n}",
        )
        for n in range(OPEN_ORDERS)
    ]
    server = SimulatorServer(sim, host="127.0.0.1", port=0).start()
    conn.send(
        {
            "url": server.url,
            "history": [_order_row(o) for o in history],
            "resting": [_order_row(o) for o in resting],
            "trades": [_trade_row(t) for t in sim.trades(SYMBOL)],
        }
    )
    while True:
        command = conn.recv()
        if command == "drift":
            for o in resting[:CANCELLED_BEHIND]:
                sim.cancel_behind_back(o.id)
            for _ in range(BY_HAND):
                sim.place_order(symbol=SYMBOL, side="buy", type="market", amount=Decimal("200"))
            conn.send(dict(server.calls))
        elif command == "calls":
            conn.send(dict(server.calls))
        else:
            server.stop()
            return


def setup_django(database_url: str) -> None:
    os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tradebot.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def seed_local(data: dict) -> None:
    """Our books as the bot would have them, in bulk, with the drift described above."""
    from datetime import UTC, datetime

    from apps.trading.models import Fill, Order

    def when(ms: int) -> datetime:
        return datetime.fromtimestamp(ms / 1000, tz=UTC)

    history = sorted(data["history"], key=lambda o: o["create_ms"])
    drifted = {o["id"] for o in history[-FILLED_WHILE_DOWN:]}
    unknown = {o["id"] for o in history[-FILLED_WHILE_DOWN - UNKNOWN : -FILLED_WHILE_DOWN]}
    created_at = Order._meta.get_field("created_at")
    created_at.auto_now_add = False  # keep the exchange's creation times
    orders = []
    for o in history + data["resting"]:
        stale = o["id"] in drifted or o["id"] in unknown
        status = "filled" if o["finish_as"] == "filled" else "cancelled"
        if o["status"] == "open":
            status = "open"
        filled = Decimal(0) if stale else o["filled"]
        orders.append(
            Order(
                client_order_id=o["text"],
                exchange_order_id=None if o["id"] in unknown else o["id"],
                symbol=SYMBOL,
                side=o["side"],
                type=o["type"],
                amount=o["amount"],
                price=o["price"],
                status="unknown" if o["id"] in unknown else "open" if o["id"] in drifted else status,
                filled=filled,
                cost=Decimal(0) if stale else o["filled_total"],
                average_price=(o["filled_total"] / o["filled"]) if filled else None,
                fee=Decimal(0) if stale else o["fee"],
                fee_currency=o["fee_currency"],
                fees={} if stale or not o["fee"] else {o["fee_currency"]: str(o["fee"])},
                created_at=when(o["create_ms"]),
                submitted_at=when(o["create_ms"]),
            )
        )
    Order.objects.bulk_create(orders, batch_size=2000)
    created_at.auto_now_add = True
    ids = dict(Order.objects.filter(symbol=SYMBOL).values_list("exchange_order_id", "pk"))
    sides = {o["id"]: o["side"] for o in history}
    fills = [
        Fill(
            exchange_trade_id=t["id"],
            order_id=ids[t["order_id"]],
            symbol=SYMBOL,
            side=sides[t["order_id"]],
            price=t["price"],
            amount=t["amount"],
            cost=t["price"] * t["amount"],
            fee=t["fee"],
            fee_currency=t["fee_currency"],
            is_maker=t["maker"],
            executed_at=datetime.fromtimestamp(t["create_us"] / 1_000_000, tz=UTC),
        )
        for t in data["trades"]
        if t["order_id"] in ids and t["order_id"] not in drifted and t["order_id"] not in unknown
    ]
    Fill.objects.bulk_create(fills, batch_size=2000)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=10_000)
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()
    tmp = tempfile.mkdtemp(prefix="tb-bench-reconcile-")
    database_url = args.database_url or f"sqlite:///{tmp}/bench.sqlite3"
    os.environ.setdefault("DATA_DIR", tmp)
    os.environ["REDIS_URL"] = ""

    parent, child = mp.get_context("spawn").Pipe()
    simulator = mp.get_context("spawn").Process(target=serve_simulator, args=(child, args.orders), daemon=True)
    simulator.start()
    data = parent.recv()
    print(f"simulator: {len(data['history']) + len(data['resting']) + BY_HAND} orders, {len(data['trades'])} trades")

    setup_django(database_url)
    from apps.audit.actors import Actor
    from apps.exchange.breaker import CircuitBreaker, DbStore
    from apps.exchange.ccxt_broker import GateBroker
    from apps.exchange.limiter import Budget, FileWindow, RateLimiter
    from apps.reconciliation.services import reconcile
    from apps.trading.models import Fill, Order

    started = time.perf_counter()
    seed_local(data)
    print(
        f"local: {Order.objects.count()} orders, {Fill.objects.count()} fills (seeded in "
        f"{time.perf_counter() - started:.1f} s)"
    )
    parent.send("drift")
    before = parent.recv()

    limiter = RateLimiter(
        FileWindow(Path(tmp) / "ratelimit"), {"gateio": Budget(10_000, 10.0), "gateio_orders": Budget(9, 1.0)}, 10.0
    )
    store = DbStore()
    breakers = {
        c: CircuitBreaker(f"gateio:{c}", store, threshold=5, cooldown=30)
        for c in ("public", "private_orders", "private_account", "private_reads")
    }
    broker = GateBroker(
        api_key="sim-key", api_secret="sim-secret", api_url=data["url"], limiter=limiter, breakers=breakers
    )

    cpu, wall = time.process_time(), time.perf_counter()
    run = reconcile(broker=broker, actor=Actor.system("bench"), trigger="bench", symbols=[SYMBOL], discover=True)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall

    parent.send("calls")
    after = parent.recv()
    served = {k: after.get(k, 0) - before.get(k, 0) for k in after if after.get(k, 0) != before.get(k, 0)}
    parent.send("stop")
    simulator.join(timeout=5)

    kinds: dict[str, int] = {}
    for kind in run.discrepancies.values_list("kind", flat=True):
        kinds[kind] = kinds.get(kind, 0) + 1
    print(
        f"run #{run.pk} {run.status}: checked {run.checked}, fixed {run.fixed}, imported {run.imported}, "
        f"missing {run.missing}; discrepancies {kinds}"
    )
    if run.error:
        print(f"error: {run.error}")
    print(f"exchange calls: {run.exchange_calls} (simulator served {sum(served.values())}: {served})  goal <= 15")
    print(f"CPU: {cpu:.2f} s (process_time, this process only)  goal <= 2 s")
    print(f"wall: {wall:.2f} s (network inside ccxt: {broker.network_seconds:.2f} s)")


if __name__ == "__main__":
    main()
