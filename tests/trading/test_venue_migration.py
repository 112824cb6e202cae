"""Issue 11, Deliver 1: the migration that adds the venue backfills the rows a database already holds from
what it knows — an order the paper broker holds is paper, one with an exchange id of the exchange is live, and
fills and positions follow their orders (apps/trading/migrations/0003_venue.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [
    ("trading", "0002_client_order_id_optional"),
    ("exchange", "0002_paper_broker"),
    ("reconciliation", "0001_initial"),
]
NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def _migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


def _leaves():
    executor = MigrationExecutor(connection)
    return executor.loader.graph.leaf_nodes()


@pytest.fixture
def old_schema(settings):
    settings.MODE = "live"  # the mode running the migration: what an order never sent inherits
    apps = _migrate(BEFORE)
    yield apps
    _migrate(_leaves())


def _order(apps, client_id, exchange_id, position=None, side="buy"):
    Order = apps.get_model("trading", "Order")
    return Order.objects.create(
        client_order_id=client_id,
        exchange_order_id=exchange_id,
        symbol="BTC/USDT",
        side=side,
        type="market",
        quote_amount=Decimal("100"),
        status="filled" if exchange_id else "new",
        position=position,
    )


def test_the_venue_migration_backfills_paper_and_live_from_what_is_known(old_schema):
    apps = old_schema
    Position = apps.get_model("trading", "Position")
    Fill = apps.get_model("trading", "Fill")
    PaperOrder = apps.get_model("exchange", "PaperOrder")
    paper_position = Position.objects.create(symbol="BTC/USDT", status="closed", opened_at=NOW)
    live_position = Position.objects.create(symbol="BTC/USDT", status="open", opened_at=NOW)
    PaperOrder.objects.create(
        exchange_order_id="paper-1",
        client_order_id="t-tb-paper-a",
        symbol="BTC/USDT",
        side="buy",
        type="market",
        status="closed",
        created_at=NOW,
    )
    paper_a = _order(apps, "t-tb-paper-a", "paper-1", paper_position)
    paper_b = _order(apps, "t-tb-paper-b", "paper-2", paper_position, side="sell")  # its PaperOrder pruned
    live = _order(apps, "t-tb-live-a", "9001", live_position)
    _order(apps, "t-tb-unsent", None)  # never sent
    for order, trade_id in ((paper_a, "paper-t-1"), (paper_b, "paper-t-2"), (live, "7001")):
        Fill.objects.create(
            exchange_trade_id=trade_id,
            order=order,
            symbol="BTC/USDT",
            side=order.side,
            price=Decimal("50000"),
            amount=Decimal("0.002"),
            cost=Decimal("100"),
            executed_at=NOW,
        )

    apps = _migrate(_leaves())
    Order = apps.get_model("trading", "Order")
    venues = dict(Order.objects.values_list("client_order_id", "venue"))
    assert venues == {"t-tb-paper-a": "paper", "t-tb-paper-b": "paper", "t-tb-live-a": "live", "t-tb-unsent": "live"}
    fills = dict(apps.get_model("trading", "Fill").objects.values_list("exchange_trade_id", "venue"))
    assert fills == {"paper-t-1": "paper", "paper-t-2": "paper", "7001": "live"}
    positions = dict(apps.get_model("trading", "Position").objects.values_list("pk", "venue"))
    assert positions == {paper_position.pk: "paper", live_position.pk: "live"}


def test_after_the_migration_exchange_ids_are_unique_per_venue_only(old_schema):
    from django.db import IntegrityError, transaction

    apps = _migrate(_leaves())
    Order = apps.get_model("trading", "Order")
    common = {"symbol": "BTC/USDT", "side": "buy", "type": "market", "quote_amount": Decimal("10")}
    Order.objects.create(client_order_id="t-tb-x1", exchange_order_id="123", venue="paper", **common)
    Order.objects.create(client_order_id="t-tb-x2", exchange_order_id="123", venue="live", **common)
    with pytest.raises(IntegrityError), transaction.atomic():
        Order.objects.create(client_order_id="t-tb-x3", exchange_order_id="123", venue="live", **common)
