"""What the order path and the exits pass cost in SQL (issue 16, items 5 and 6): statements, transactions and
repeated reads, counted on the real path (GateBroker over HTTP to the bundled simulator, real database).

Transactions are the commits of outermost atomic blocks plus writes made in autocommit, so these tests use a
transactional database (pytest-django's plain `db` would turn every block into a savepoint)."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal

import pytest
from django.db import connection

from apps.audit.actors import SYSTEM
from apps.audit.models import AuditLog
from apps.exits.models import ProtectiveExit
from apps.exits.services import exits_check
from apps.trading.models import Fill, Order, Position
from apps.trading.submission import order_place


@dataclass
class Sql:
    statements: list[tuple[str, tuple]] = field(default_factory=list)
    transactions: int = 0
    marks: dict[str, int] = field(default_factory=dict)  # transactions committed when a broker call left

    def repeated_reads(self) -> list[str]:
        """SELECTs reading what an earlier SELECT already read (same rows, any columns, locked or not)."""
        seen: Counter = Counter()
        for sql, params in self.statements:
            if sql.lstrip().upper().startswith("SELECT"):
                start = sql.upper().find(" FROM ")
                rows = re.sub(r"\s+FOR UPDATE.*$|\s+LIMIT\s+\d+", "", sql[start:])
                seen[(rows, repr(params))] += 1
        return [rows for (rows, _), n in seen.items() if n > 1]


class counting:
    """Every statement and transaction of the block, on this thread's connection."""

    def __enter__(self) -> Sql:
        self.sql = Sql()
        self._commit = connection.commit

        def commit():
            self.sql.transactions += 1
            return self._commit()

        def wrapper(execute, sql, params, many, context):
            if not sql.lstrip().upper().startswith("BEGIN"):  # SQLite's; PostgreSQL's is not seen
                self.sql.statements.append((sql, tuple(params or ())))
            if connection.get_autocommit() and sql.lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE")):
                self.sql.transactions += 1
            return execute(sql, params, many, context)

        connection.commit = commit
        self._wrapper = connection.execute_wrapper(wrapper)
        self._wrapper.__enter__()
        return self.sql

    def __exit__(self, *exc) -> None:
        self._wrapper.__exit__(*exc)
        del connection.commit


def mark_requests(broker, sql: Sql, *names: str) -> None:
    """Record in sql.marks how many transactions had committed when each named broker call was made."""
    for name in names:
        original = getattr(broker, name)

        def call(*args, _name=name, _original=original, **kwargs):
            sql.marks.setdefault(_name, sql.transactions)
            return _original(*args, **kwargs)

        setattr(broker, name, call)


def place(broker, **params) -> Order:
    """What the trading cycle does (apps.trading.cycle): the order recorded and sent by order_place."""
    return order_place(broker=broker, actor=SYSTEM, symbol="BTC/USDT", **params)


LIMIT = {"side": "buy", "type": "limit", "amount": Decimal("0.001"), "price": Decimal("40000")}
MARKET = {"side": "buy", "type": "market", "quote_amount": Decimal("1000")}


# --- retry safety (must keep holding) ------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_limit_order_is_committed_before_it_is_sent_and_audited(broker):
    with counting() as sql:
        mark_requests(broker, sql, "create_order")
        order = place(broker, **LIMIT)
    assert order.status == "open"
    assert sql.marks["create_order"] >= 1  # retry-safe: the order was committed `submitted` before it left
    actions = list(AuditLog.objects.filter(object_id=str(order.pk)).values_list("action", flat=True))
    assert actions.count("order.create") == 1 and actions.count("order.transition") >= 2


# --- issue 16 item 5: the order path -----------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_limit_order_costs_at_most_six_statements_in_two_transactions(broker):
    with counting() as sql:
        mark_requests(broker, sql, "create_order")
        order = place(broker, **LIMIT)
    assert order.status == "open"
    # `new`, `submitted` and their audit rows in one transaction before the request leaves ...
    assert sql.marks["create_order"] == 1
    # ... and the answer (exchange id, open, audit) in one more.
    assert sql.transactions == 2
    assert len(sql.statements) <= 6, [s for s, _ in sql.statements]


@pytest.mark.django_db(transaction=True)
def test_a_market_buy_records_fill_position_and_exit_in_one_transaction(broker):
    with counting() as sql:
        mark_requests(broker, sql, "create_order")
        order = place(broker, **MARKET)
    assert order.status == "filled"
    assert Fill.objects.filter(order=order).exists()
    position = Position.objects.get(status="open")
    assert ProtectiveExit.objects.get(position=position).status == "armed"
    assert sql.marks["create_order"] == 1
    assert sql.transactions - sql.marks["create_order"] == 1  # fill + position + exit + filled: one commit


@pytest.mark.django_db(transaction=True)
def test_the_order_path_reads_no_row_twice(broker):
    with counting() as sql:
        place(broker, **LIMIT)
        place(broker, **MARKET)
    assert sql.repeated_reads() == []


# --- issue 16 item 6: the exits pass -------------------------------------------------------------------------


def _trigger_all(sim) -> None:
    for exit in ProtectiveExit.objects.filter(status="armed"):
        sim.set_price(exit.symbol, exit.stop_loss_price * Decimal("0.99"))


@pytest.mark.django_db(transaction=True)
def test_two_triggered_exits_are_each_sold_once(broker, buy, sim):
    buy(quote="1000")
    buy(symbol="ETH/USDT", quote="1000")
    _trigger_all(sim)
    result = exits_check(broker=broker, actor=SYSTEM)
    assert (result.triggered, result.orders_sent) == (2, 2)
    assert sum(1 for o in sim.finished_orders() + sim.open_orders() if o.side == "sell") == 2
    assert set(ProtectiveExit.objects.values_list("status", flat=True)) == {"filled"}


@pytest.mark.django_db(transaction=True)
def test_the_exits_pass_claims_creates_and_records_in_bulk(broker, buy, sim):
    buy(quote="1000")
    buy(symbol="ETH/USDT", quote="1000")
    _trigger_all(sim)
    with counting() as sql:
        result = exits_check(broker=broker, actor=SYSTEM)
    assert (result.triggered, result.orders_sent) == (2, 2)
    assert set(ProtectiveExit.objects.values_list("status", flat=True)) == {"filled"}
    claims = [s for s, p in sql.statements if s.lstrip().startswith('UPDATE "exits_protectiveexit"') and "armed" in p]
    assert len(claims) == 1, claims  # both exits claimed by one statement
    inserts = [s for s, _ in sql.statements if s.lstrip().startswith('INSERT INTO "trading_order"')]
    assert len(inserts) == 1, inserts  # both exit orders created by one statement
    # The claim, the orders (committed before sending), the answers of both: three transactions, not one per step
    # of each exit.
    assert sql.transactions == 3, sql.transactions
