"""Exchange-side stops against the ways Gate.io answers (issue 10, Deliver 2, "Exchange-side stops").

- DELETE /spot/price_orders/{id} of a stop that already fired: either 200 with the stop as it is (status
  `finish`, `fired_order_id`) or 404 ORDER_NOT_FOUND; both mean the position is sold (never sell twice).
- A cancelled price order reads `cancelled` in the SDK and `canceled` in a real recorded answer (ccxt's
  `ts/src/test/static/response/gate.json`): both mean cancelled, and a stop cancelled on the website is
  placed again.
- On a unified account the stop's `put.account` must be `unified` (SDK SpotPricePutOrder; ccxt sends
  `normal` unless told): otherwise it fails when it fires and nothing is sold.
"""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from apps.audit.actors import SYSTEM
from apps.exits.models import ProtectiveExit
from apps.exits.services import exits_check
from apps.trading.models import Order, Position

from .conftest import open_position

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def on_exchange(settings):
    settings.EXITS_ON_EXCHANGE = True


def _open_stops(sim) -> list:
    return [po for po in sim.price_orders() if po.status == "open"]


def _sim_sells(sim) -> list:
    return [o for o in sim.finished_orders("BTC/USDT") + sim.open_orders("BTC/USDT") if o.side == "sell"]


@pytest.mark.parametrize("answer", ["fired", "not_found"])
def test_a_stop_that_fired_is_adopted_whichever_way_the_cancel_answers(broker, buy, sim, answer):
    sim.configure(fired_price_order_cancel=answer)
    buy(quote="1000")
    exits_check(broker=broker, actor=SYSTEM)
    exit = ProtectiveExit.objects.get()
    sim.set_price("BTC/USDT", exit.stop_loss_price - Decimal("20"))  # the exchange fires; the bot sees it too

    result = exits_check(broker=broker, actor=SYSTEM)

    exit.refresh_from_db()
    assert result.orders_sent == 0 and result.stops_fired == 1
    assert exit.status == "filled" and exit.trigger_reason == "exchange_stop"
    assert len(_sim_sells(sim)) == 1 and Order.objects.filter(side="sell").count() == 1  # sold once
    assert not Position.objects.filter(status="open").exists()


@pytest.mark.parametrize("answer", ["fired", "not_found"])
def test_a_stop_that_fired_while_being_re_priced_is_adopted(broker, buy, sim, answer):
    """The exit is re-priced (a second buy) while the price falls through the old stop: the cancel of the old
    stop finds it fired; no new stop is placed and nothing is sold again."""
    sim.configure(fired_price_order_cancel=answer)
    buy(quote="1000")
    exits_check(broker=broker, actor=SYSTEM)
    exit = ProtectiveExit.objects.get()
    buy(quote="1000")  # re-sizes the exit: its stop must be replaced on the next pass
    sim.set_price("BTC/USDT", exit.stop_loss_price - Decimal("20"))
    sim.set_price("BTC/USDT", exit.entry_price)

    exits_check(broker=broker, actor=SYSTEM)

    exit.refresh_from_db()
    assert exit.trigger_reason == "exchange_stop" and not _open_stops(sim)
    assert len(_sim_sells(sim)) == 1 and Order.objects.filter(side="sell").count() == 1


@pytest.mark.parametrize("spelling", ["cancelled", "canceled"])
def test_a_stop_cancelled_on_the_website_is_placed_again(broker, buy, sim, spelling):
    sim.configure(price_order_cancelled_status=spelling)
    buy(quote="1000")
    exits_check(broker=broker, actor=SYSTEM)
    [stop] = _open_stops(sim)
    sim.cancel_price_order_behind_back(str(stop.id))
    assert sim.price_order(str(stop.id)).status == spelling

    later = timezone.now() + timedelta(minutes=1)
    exits_check(broker=broker, actor=SYSTEM, now=later)  # the poll sees it cancelled and forgets it
    exits_check(broker=broker, actor=SYSTEM, now=later)  # the next pass places a fresh one

    exit = ProtectiveExit.objects.get()
    [fresh] = _open_stops(sim)
    assert fresh.id != stop.id and exit.exchange_stop_order_id == str(fresh.id)


@pytest.mark.parametrize("unified", [True, False])
def test_on_a_unified_account_the_stop_sells_only_when_its_put_says_unified(make_broker, buy, sim, unified):
    sim.configure(unified_account=True)
    broker = make_broker()
    broker.unified_account = unified  # GATEIO_UNIFIED_ACCOUNT
    buy(quote="1000")
    exits_check(broker=broker, actor=SYSTEM)
    [stop] = _open_stops(sim)
    assert (stop.put["account"] == "unified") is unified
    position = open_position()

    sim.set_price("BTC/USDT", ProtectiveExit.objects.get().stop_loss_price - Decimal("20"))

    fired = sim.price_order(str(stop.id))
    if unified:
        assert fired.status == "finish" and len(_sim_sells(sim)) == 1
        assert Decimal(_sim_sells(sim)[0].amount) <= position.amount
    else:  # what ccxt's default would do on such an account: the stop fails and nothing protects the position
        assert fired.status == "failed" and not _sim_sells(sim)
