"""Entry fills arm the exit at STOP_LOSS_PCT / TAKE_PROFIT_PCT from the actual average fill price."""

from decimal import Decimal

import pytest

from apps.audit.actors import SYSTEM
from apps.exits.models import ProtectiveExit
from apps.exits.services import exits_check
from apps.trading.models import Fill, Position

from .conftest import open_position

pytestmark = pytest.mark.django_db


def _vwap(position: Position) -> Decimal:
    fills = Fill.objects.filter(order__position=position, side="buy")
    return sum(f.cost for f in fills) / sum(f.amount for f in fills)


def test_entry_fill_arms_exit_at_levels_from_average_fill_price(broker, buy, sim, settings):
    settings.STOP_LOSS_PCT, settings.TAKE_PROFIT_PCT = Decimal("2.0"), Decimal("4.0")
    settings.SYMBOLS = ("BTC/USDT", "ETH/USDT")
    buy(symbol="ETH/USDT", quote="500")
    exits_check(broker=broker, actor=SYSTEM)  # learns the price step of BTC/USDT (0.1) on the way
    buy(quote="1000")

    position = open_position()
    exit = ProtectiveExit.objects.get(position=position)
    vwap = _vwap(position)
    assert exit.status == "armed" and exit.symbol == "BTC/USDT"
    assert abs(exit.entry_price - vwap) < Decimal("1e-8")
    assert exit.stop_loss_price == (vwap * Decimal("0.98")).quantize(Decimal("0.1"))
    assert exit.take_profit_price == (vwap * Decimal("1.04")).quantize(Decimal("0.1"))


def test_more_entry_fills_reprice_the_armed_exit(broker, buy, sim, settings):
    settings.SYMBOLS = ("BTC/USDT", "ETH/USDT")
    buy(symbol="ETH/USDT", quote="500")
    exits_check(broker=broker, actor=SYSTEM)
    buy(quote="1000")
    first = ProtectiveExit.objects.get(symbol="BTC/USDT")
    sim.set_price("BTC/USDT", Decimal("48000"))
    buy(quote="1000")

    position = open_position()
    exit = ProtectiveExit.objects.get(symbol="BTC/USDT")
    assert exit.pk == first.pk and exit.status == "armed"
    vwap = _vwap(position)
    assert Decimal("48000") < vwap < Decimal("50100")
    assert abs(exit.entry_price - vwap) < Decimal("1e-8")
    assert exit.stop_loss_price == (vwap * Decimal("0.98")).quantize(Decimal("0.1")) < first.stop_loss_price


def test_levels_fall_back_to_significant_digits_before_the_price_step_is_known(db, settings):
    from django.core.cache import cache

    from apps.exits.levels import exit_levels

    cache.delete("exits:price_places:NEW/USDT")
    stop, take = exit_levels("NEW/USDT", Decimal("0.123456789123"))
    assert stop == Decimal("0.12098765") and take == Decimal("0.12839506")


def test_nothing_armed_without_a_position(broker):
    result = exits_check(broker=broker, actor=SYSTEM)
    assert result.checked == 0 and result.tickers_calls == 0 and result.ok
