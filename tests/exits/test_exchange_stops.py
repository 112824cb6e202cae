"""EXITS_ON_EXCHANGE: the stop-loss also lives on the exchange as a price-triggered order, kept in sync."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from apps.audit.actors import SYSTEM
from apps.exits.models import ProtectiveExit
from apps.exits.services import exits_check
from apps.trading.models import Order, Position
from apps.trading.services import order_create
from apps.trading.submission import order_submit

from .conftest import open_position

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def on_exchange(settings):
    settings.EXITS_ON_EXCHANGE = True


def _open_stops(sim) -> list:
    return [po for po in sim.price_orders() if po.status == "open"]


def _sim_sells(sim) -> list:
    return [o for o in sim.finished_orders("BTC/USDT") + sim.open_orders("BTC/USDT") if o.side == "sell"]


def test_pass_places_the_stop_and_replaces_it_when_the_exit_is_repriced(broker, buy, sim):
    buy(quote="1000")
    exits_check(broker=broker, actor=SYSTEM)

    exit = ProtectiveExit.objects.get()
    [stop] = _open_stops(sim)
    assert exit.exchange_stop_order_id == str(stop.id)
    assert stop.rule == "<=" and stop.trigger_price == exit.stop_loss_price.quantize(Decimal("0.1"))
    assert Decimal(stop.put["amount"]) == open_position().amount.quantize(Decimal("0.000001"), rounding="ROUND_DOWN")
    assert exits_check(broker=broker, actor=SYSTEM).stops_placed == 0  # in sync: nothing to do

    sim.set_price("BTC/USDT", Decimal("49500"))
    buy(quote="1000")
    result = exits_check(broker=broker, actor=SYSTEM)

    exit.refresh_from_db()
    [new_stop] = _open_stops(sim)
    assert result.stops_placed == 1 and new_stop.id != stop.id
    assert sim.price_order(str(stop.id)).status == "cancelled"
    assert exit.exchange_stop_order_id == str(new_stop.id)
    assert new_stop.trigger_price == exit.stop_loss_price.quantize(Decimal("0.1"))
    assert Decimal(new_stop.put["amount"]) > Decimal(stop.put["amount"])


def test_stop_is_cancelled_when_the_position_closes_by_other_means(broker, buy, sim):
    buy(quote="1000")
    exits_check(broker=broker, actor=SYSTEM)
    [stop] = _open_stops(sim)
    position = open_position()
    manual = order_create(
        symbol="BTC/USDT", side="sell", type="market", amount=position.amount.quantize(Decimal("0.000001"),
        rounding="ROUND_DOWN"), origin="operator", actor=SYSTEM,
    )  # fmt: skip
    order_submit(order=manual, broker=broker, actor=SYSTEM)

    exit = ProtectiveExit.objects.get()
    assert exit.status == "cancelled" and exit.exchange_stop_order_id == str(stop.id)  # no network in the fill

    result = exits_check(broker=broker, actor=SYSTEM)

    exit.refresh_from_db()
    assert result.stops_cancelled == 1 and exit.exchange_stop_order_id == ""
    assert sim.price_order(str(stop.id)).status == "cancelled" and not _open_stops(sim)


def test_stop_that_fired_while_the_bot_was_down_closes_the_position(broker, buy, sim, alerts):
    buy(quote="1000")
    exits_check(broker=broker, actor=SYSTEM)
    exit = ProtectiveExit.objects.get()
    # The bot is down: the price falls through the stop (the exchange sells), then recovers.
    sim.set_price("BTC/USDT", exit.stop_loss_price - Decimal("20"))
    sim.set_price("BTC/USDT", exit.entry_price)
    assert len(_sim_sells(sim)) == 1

    result = exits_check(broker=broker, actor=SYSTEM, now=timezone.now() + timedelta(minutes=5))

    exit.refresh_from_db()
    position = Position.objects.get(pk=exit.position_id)
    assert result.stops_fired == 1 and result.orders_sent == 0
    assert exit.status == "filled" and exit.trigger_reason == "exchange_stop"
    assert exit.exit_order.exchange_order_id == _sim_sells(sim)[0].id
    assert position.status == "closed" and position.realized_pnl < 0
    assert len(_sim_sells(sim)) == 1 and Order.objects.filter(side="sell").count() == 1
    assert [a["kind"] for a in alerts] == ["exit_filled"]


def test_bot_stop_loss_adopts_the_exchange_stop_instead_of_selling_twice(broker, buy, sim):
    buy(quote="1000")
    exits_check(broker=broker, actor=SYSTEM)
    exit = ProtectiveExit.objects.get()
    sim.set_price("BTC/USDT", exit.stop_loss_price - Decimal("20"))  # both the exchange and the bot see it

    result = exits_check(broker=broker, actor=SYSTEM)

    exit.refresh_from_db()
    assert result.triggered == 1 and result.orders_sent == 0 and result.stops_fired == 1
    assert exit.status == "filled" and exit.trigger_reason == "exchange_stop"
    assert len(_sim_sells(sim)) == 1 and Order.objects.filter(side="sell").count() == 1
    assert not Position.objects.filter(status="open").exists()


def test_take_profit_cancels_the_stop_before_selling(broker, buy, sim):
    buy(quote="1000")
    exits_check(broker=broker, actor=SYSTEM)
    exit = ProtectiveExit.objects.get()
    [stop] = _open_stops(sim)
    sim.set_price("BTC/USDT", exit.take_profit_price + Decimal("20"))

    result = exits_check(broker=broker, actor=SYSTEM)

    exit.refresh_from_db()
    assert result.orders_sent == 1 and exit.status == "filled" and exit.trigger_reason == "take_profit"
    assert sim.price_order(str(stop.id)).status == "cancelled" and exit.exchange_stop_order_id == ""
    sim.set_price("BTC/USDT", exit.stop_loss_price - Decimal("20"))
    assert len(_sim_sells(sim)) == 1
