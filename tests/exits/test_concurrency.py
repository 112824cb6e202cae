"""Two workers running the exits pass at the same moment send one exit order, never two."""

from decimal import Decimal

import pytest

from apps.audit.actors import SYSTEM
from apps.exits.models import ProtectiveExit
from apps.exits.services import exits_check, position_close
from apps.trading.models import Order, Position
from tests.concurrency import race


def _sim_sells(sim) -> int:
    return sum(1 for o in sim.finished_orders() + sim.open_orders() if o.side == "sell")


@pytest.mark.django_db(transaction=True)
def test_exit_triggers_once_when_two_workers_race(make_broker, buy, sim):
    buy(quote="1000")
    buy(symbol="ETH/USDT", quote="1000")
    for exit in ProtectiveExit.objects.all():
        sim.set_price(exit.symbol, exit.stop_loss_price * Decimal("0.99"))
    brokers = [make_broker(), make_broker()]

    results = race(2, lambda i: exits_check(broker=brokers[i], actor=SYSTEM))

    assert not any(isinstance(r, Exception) for r in results), results
    assert sum(r.triggered for r in results) == 2, results
    assert Order.objects.filter(side="sell").count() == 2
    assert _sim_sells(sim) == 2
    assert set(ProtectiveExit.objects.values_list("status", flat=True)) == {"filled"}
    assert not Position.objects.filter(status="open").exists()


@pytest.mark.django_db(transaction=True)
def test_operator_close_racing_the_stop_loss_sells_once(make_broker, buy, sim):
    buy(quote="1000")
    exit = ProtectiveExit.objects.get()
    position = Position.objects.get()
    sim.set_price("BTC/USDT", exit.stop_loss_price * Decimal("0.99"))
    brokers = [make_broker(), make_broker()]
    work = [
        lambda: exits_check(broker=brokers[0], actor=SYSTEM),
        lambda: position_close(position=position, broker=brokers[1], actor=SYSTEM),
    ]

    results = race(2, lambda i: work[i]())

    assert Order.objects.filter(side="sell").count() == 1, results
    assert _sim_sells(sim) == 1
    exit.refresh_from_db()
    assert exit.status == "filled" and exit.trigger_reason in ("stop_loss", "operator")
