"""Price moves -> exactly one exit order -> filled -> position closed with the right PnL after fees."""

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from apps.audit.actors import SYSTEM
from apps.exits.models import ProtectiveExit
from apps.exits.services import exits_check
from apps.trading.models import Fill, Order, Position

from .conftest import open_position

pytestmark = pytest.mark.django_db


def _expected_pnl(position: Position) -> Decimal:
    """Independent arithmetic: quote received for what was sold, minus its share of the quote spent."""
    buys = Fill.objects.filter(order__position=position, side="buy")
    sells = Fill.objects.filter(order__position=position, side="sell")
    spent = sum(f.cost for f in buys)  # buy fees are charged in base: they reduce what is held
    held = sum(f.amount - f.fee for f in buys)
    sold = sum(f.amount for f in sells)
    received = sum(f.cost - f.fee for f in sells)  # sell fees are charged in quote
    return received - spent * sold / held


def test_stop_loss_sends_one_order_and_closes_position_with_pnl_after_fees(broker, buy, sim, alerts):
    buy(quote="1000")
    exit = ProtectiveExit.objects.get()
    sim.set_price("BTC/USDT", exit.stop_loss_price - Decimal("10"))

    result = exits_check(broker=broker, actor=SYSTEM)

    assert result.tickers_calls == 1 and result.triggered == 1 and result.orders_sent == 1, result
    exit.refresh_from_db()
    assert exit.status == "filled" and exit.trigger_reason == "stop_loss" and exit.attempts == 1
    order = exit.exit_order
    assert order.origin == "protective_exit" and order.side == "sell" and order.type == "market"
    assert order.intent == f"exit:{exit.pk}:1" and order.status == "filled"
    position = Position.objects.get(pk=exit.position_id)
    assert position.status == "closed" and position.realized_pnl < 0
    assert abs(position.realized_pnl - _expected_pnl(position)) < Decimal("1e-8")
    assert position.amount * position.average_entry_price < Decimal("1")  # only dust is left
    filled = [a for a in alerts if a["kind"] == "exit_filled"]
    assert len(filled) == 1
    # The alert states the PnL computed in the fill's transaction; SQLite keeps ~15 significant digits of it.
    said = Decimal(re.search(r"realized PnL (-?[\d.]+) USDT", filled[0]["text"]).group(1))
    assert abs(said - position.realized_pnl) < Decimal("1e-8")

    again = exits_check(broker=broker, actor=SYSTEM)
    assert again.triggered == 0 and again.orders_sent == 0
    assert Order.objects.filter(side="sell").count() == 1
    assert sum(1 for o in sim.finished_orders("BTC/USDT") if o.side == "sell") == 1


def test_take_profit_closes_position_in_profit(broker, buy, sim, alerts):
    buy(quote="1000")
    exit = ProtectiveExit.objects.get()
    sim.set_price("BTC/USDT", exit.take_profit_price + Decimal("50"))

    exits_check(broker=broker, actor=SYSTEM)

    exit.refresh_from_db()
    position = Position.objects.get(pk=exit.position_id)
    assert exit.status == "filled" and exit.trigger_reason == "take_profit"
    assert position.status == "closed" and position.realized_pnl > 0
    assert abs(position.realized_pnl - _expected_pnl(position)) < Decimal("1e-8")


def test_prices_between_the_levels_trigger_nothing(broker, buy, sim):
    buy(quote="1000")
    buy(symbol="ETH/USDT", quote="500")
    result = exits_check(broker=broker, actor=SYSTEM)
    assert result.checked == 2 and result.symbols == 2 and result.tickers_calls == 1
    assert result.triggered == 0 and result.orders_sent == 0 and result.ok
    assert set(ProtectiveExit.objects.values_list("status", flat=True)) == {"armed"}


def test_partial_exit_fill_then_the_rest_on_the_next_attempt(broker, buy, sim, monkeypatch):
    buy(quote="1000")
    exit = ProtectiveExit.objects.get()
    held = open_position().amount
    engine = type(sim)
    original = engine._execute_market
    state = {"partial": True}

    def thin_book(self, spec, order):  # the first exit sale finds liquidity for half of it only
        if order.side == "sell" and state.pop("partial", False):
            price = spec.round_price(self._price[spec.pair] * Decimal("0.999"))
            self._fill(order, spec.floor_amount(order.amount / 2), price, "taker")
            self._finish(order, "ioc")
            return
        original(self, spec, order)

    monkeypatch.setattr(engine, "_execute_market", thin_book)
    sim.set_price("BTC/USDT", exit.stop_loss_price - Decimal("10"))

    first = exits_check(broker=broker, actor=SYSTEM)
    exit.refresh_from_db()
    position = open_position()
    assert first.orders_sent == 1 and exit.status == "triggered" and exit.attempts == 1
    assert Decimal(0) < position.amount < held

    second = exits_check(broker=broker, actor=SYSTEM)
    exit.refresh_from_db()
    position.refresh_from_db()
    assert second.orders_sent == 1 and second.triggered == 0
    assert exit.status == "filled" and exit.attempts == 2 and exit.exit_order.intent == f"exit:{exit.pk}:2"
    assert position.status == "closed"
    sells = Order.objects.filter(side="sell").order_by("pk")
    assert [o.intent for o in sells] == [f"exit:{exit.pk}:1", f"exit:{exit.pk}:2"]
    assert sum(o.filled for o in sells) == sells[0].amount  # the second sold exactly what the first left
    assert abs(position.realized_pnl - _expected_pnl(position)) < Decimal("1e-8")


def test_exit_not_filled_is_retried_alerted_stuck_then_failed(broker, buy, sim, alerts, settings):
    settings.EXITS_STUCK_AFTER_SEC, settings.EXITS_MAX_ATTEMPTS = 15, 3
    buy(quote="1000")
    exit = ProtectiveExit.objects.get()
    sim.set_balance("BTC", Decimal(0))  # the base moved away behind the bot's back: every sale is refused
    sim.set_price("BTC/USDT", exit.stop_loss_price - Decimal("10"))
    t0 = timezone.now()

    first = exits_check(broker=broker, actor=SYSTEM, now=t0)
    exit.refresh_from_db()
    assert first.orders_sent == 1 and exit.status == "triggered" and exit.exit_order.status == "rejected"
    assert not [a for a in alerts if a["kind"] == "exit_stuck"]

    second = exits_check(broker=broker, actor=SYSTEM, now=t0 + timedelta(seconds=20))
    exit.refresh_from_db()
    assert second.stuck == 1 and second.orders_sent == 1 and exit.attempts == 2 and exit.stuck_at is not None
    stuck = [a for a in alerts if a["kind"] == "exit_stuck"]
    assert len(stuck) == 1 and stuck[0]["severity"] == "warning"

    third = exits_check(broker=broker, actor=SYSTEM, now=t0 + timedelta(seconds=40))
    exit.refresh_from_db()
    assert third.orders_sent == 1 and third.failed == 1 and not third.ok
    assert exit.status == "failed" and exit.attempts == 3 and exit.last_error
    assert [a["severity"] for a in alerts if a["kind"] == "exit_stuck"] == ["warning", "error"]  # escalated
    failed = [a for a in alerts if a["kind"] == "exit_failed"]
    assert len(failed) == 1 and failed[0]["severity"] == "critical"
    assert Order.objects.filter(side="sell").count() == 3
    assert open_position().status == "open"

    later = exits_check(broker=broker, actor=SYSTEM, now=t0 + timedelta(seconds=60))
    assert later.orders_sent == 0 and Order.objects.filter(side="sell").count() == 3


def test_a_stuck_exit_escalates_to_the_error_severity_in_the_notifications(broker, buy, sim, side_effects, settings):
    """The escalation reaches apps.notifications as "error" (a severity of its own, between warning and critical),
    not folded into "warning"; tests/telegram/test_alerts.py shows how Telegram titles it."""
    settings.EXITS_STUCK_AFTER_SEC, settings.EXITS_MAX_ATTEMPTS = 15, 4
    buy(quote="1000")
    exit = ProtectiveExit.objects.get()
    sim.set_balance("BTC", Decimal(0))  # every sale is refused
    sim.set_price("BTC/USDT", exit.stop_loss_price - Decimal("10"))
    t0 = timezone.now()
    for seconds in (0, 20, 40):
        exits_check(broker=broker, actor=SYSTEM, now=t0 + timedelta(seconds=seconds))
    stuck = [n["severity"] for n in side_effects.notifications if n["kind"] == "exit_stuck"]
    assert stuck == ["warning", "error"]
