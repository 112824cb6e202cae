"""Closed trades made through the trading core: order_create, order_transition and fill_apply, so the
positions, fees and realized PnL the reports read are the ones the real code derives."""

from __future__ import annotations

import itertools
from datetime import datetime
from decimal import Decimal

import pytest

D = Decimal
_trade_ids = itertools.count(1)


def _filled(order, price: Decimal, amount: Decimal, at: datetime, fee_pct: Decimal):
    from apps.trading.models import OrderStatus
    from apps.trading.services import FillReport, fill_apply, order_transition

    order_transition(order_id=order.pk, to=OrderStatus.SUBMITTED)
    order_transition(order_id=order.pk, to=OrderStatus.OPEN)
    fee = (price * amount * fee_pct / 100).quantize(D("1e-8"))
    fill_apply(
        order=order,
        report=FillReport(
            trade_id=f"T{next(_trade_ids)}", price=price, amount=amount, fee=fee, fee_currency="USDT", executed_at=at
        ),
    )
    order.refresh_from_db()
    return order


def round_trip(
    *,
    symbol: str = "BTC/USDT",
    buy: str,
    sell: str,
    amount: str = "0.01",
    opened: datetime,
    closed: datetime,
    rule: str = "trend_follow",
    entry_origin: str = "signal",
    exit_origin: str = "signal",
    fee_pct: str = "0.2",
):
    """Buy `amount` at `buy`, sell all at `sell` (fees in USDT): returns the closed Position."""
    from apps.audit.actors import SYSTEM
    from apps.signals.models import Decision
    from apps.trading.models import Position
    from apps.trading.services import order_create

    decision = None
    if entry_origin == "signal":
        decision = Decision.objects.create(symbol=symbol, timeframe="1m", action="buy", score=0.6, rule=rule)
    entry = order_create(
        symbol=symbol,
        side="buy",
        type="limit",
        amount=D(amount),
        price=D(buy),
        origin=entry_origin,
        decision_id=decision.pk if decision else None,
        actor=SYSTEM,
    )
    entry = _filled(entry, D(buy), D(amount), opened, D(fee_pct))
    position = Position.objects.get(pk=entry.position_id)
    exit_ = order_create(
        symbol=symbol,
        side="sell",
        type="limit",
        amount=position.amount,
        price=D(sell),
        origin=exit_origin,
        position_id=position.pk,
        actor=SYSTEM,
    )
    _filled(exit_, D(sell), position.amount, closed, D(fee_pct))
    position.refresh_from_db()
    assert position.status == Position.Status.CLOSED, position
    return position


@pytest.fixture
def trade():
    return round_trip
