"""The trading use cases: place an order for one intent, and the cycle evaluate → risk → execute.

Tasks, the API, the admin and Telegram all call these; none of them reads the wall clock or builds a
broker itself: both come in as arguments.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.utils import timezone

from apps.audit.actors import SYSTEM, Actor
from apps.exchange.broker import Broker, ExchangeError
from apps.exits.services import position_close
from apps.monitoring import metrics
from apps.operations.shutdown import interruptible, stop_requested
from apps.risk.services import risk_check
from apps.signals.models import Decision
from apps.signals.services import evaluate
from apps.trading.models import Order, OrderStatus, OrderType, Origin, Position, Side
from apps.trading.submission import order_place
from apps.trading.venues import venue_of

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CycleResult:
    decision: Decision
    order: Order | None
    executed: bool
    note: str


def place_order(
    *,
    intent: str,
    symbol: str,
    side: str,
    broker: Broker,
    actor: Actor,
    type: str = OrderType.MARKET,
    amount: Any = None,
    quote_amount: Any = None,
    price: Any = None,
    origin: str = Origin.SIGNAL,
    decision_id: int | None = None,
    position_id: int | None = None,
    client_order_id: str | None = None,
) -> Order:
    """Record (idempotently per intent) and send one order. Calling it again for the same intent returns
    the same order and never sends a second one."""

    started = time.perf_counter()
    order = order_place(
        broker=broker,
        venue=venue_of(broker),
        intent=intent,
        symbol=symbol,
        side=side,
        type=type,
        amount=amount,
        quote_amount=quote_amount,
        price=price,
        origin=origin,
        decision_id=decision_id,
        position_id=position_id,
        client_order_id=client_order_id,
        actor=actor,
    )
    _observe("order", time.perf_counter() - started, symbol=symbol)
    return order


def eval_and_execute(
    *, symbol: str, timeframe: str, broker: Broker, limit: int = 200, now: datetime | None = None, actor: Actor = SYSTEM
) -> CycleResult:
    """One trading cycle for a symbol: a stored decision, risk checks, and at most one order for it.

    The entry intent is keyed on the candle the decision saw, so a cycle re-run for the same candle
    (a redelivered task, a restarted worker) finds the order it already made instead of making another."""

    started = time.perf_counter()
    now = now or timezone.now()
    with interruptible():  # a stopping worker ends the cycle at its next read; nothing is sent yet
        decision = evaluate(symbol=symbol, timeframe=timeframe, limit=limit, broker=broker, now=now, source="cycle")
    order: Order | None = None
    if decision.action == Decision.Action.HOLD:
        note = f"hold ({decision.rule})"
    elif decision.action == Decision.Action.BUY:
        order, note = _enter(decision=decision, broker=broker, now=now, actor=actor)
    else:
        order, note = _exit_on_signal(decision=decision, broker=broker, actor=actor)
    executed = order is not None and order.status not in (OrderStatus.REJECTED, OrderStatus.NEW)
    Decision.objects.filter(pk=decision.pk).update(executed=executed, execution_note=note[:2000])
    decision.executed, decision.execution_note = executed, note
    _observe("flow", time.perf_counter() - started, symbol=symbol)
    return CycleResult(decision=decision, order=order, executed=executed, note=note)


def _enter(*, decision: Decision, broker: Broker, now: datetime, actor: Actor) -> tuple[Order | None, str]:
    intent = f"entry:{decision.symbol}:{decision.timeframe}:{decision.candle_time:%Y%m%dT%H%M}"
    existing = Order.objects.filter(intent=intent).first()
    if existing is not None:
        return existing, f"entry for this candle already made: {existing.client_order_id} ({existing.status})"
    verdict = risk_check(symbol=decision.symbol, side=Side.BUY, broker=broker, now=now, decision=decision, actor=actor)
    if not verdict.allowed:
        Decision.objects.filter(pk=decision.pk).update(risk_block=verdict.as_risk_block())
        return None, f"blocked by risk rule {verdict.rule}: {verdict.message}"
    if stop_requested():  # no new entry from a worker that is stopping: the next candle decides again
        return None, "not sent: the worker is stopping"
    try:
        order = place_order(
            intent=intent,
            symbol=decision.symbol,
            side=Side.BUY,
            type=OrderType.MARKET,
            quote_amount=verdict.quote_amount,
            amount=None if verdict.quote_amount else verdict.amount,
            origin=Origin.SIGNAL,
            decision_id=decision.pk,
            broker=broker,
            actor=actor,
        )
    except ExchangeError as exc:
        return None, f"not sent: {exc}"
    return order, f"entry order {order.client_order_id}: {order.status}"


def _exit_on_signal(*, decision: Decision, broker: Broker, actor: Actor) -> tuple[Order | None, str]:
    """A sell signal closes the open position through the same one-exit-per-position path as SL / TP."""
    position = (
        Position.objects.filter(venue=venue_of(broker), symbol=decision.symbol, status=Position.Status.OPEN)
        .filter(amount__gt=0)
        .first()
    )
    if position is None:
        return None, "sell signal with no open position: nothing to do (spot, long only)"

    try:
        order = position_close(position=position, broker=broker, actor=actor)
    except (ExchangeError, ValueError) as exc:
        return None, f"exit on signal not sent: {exc}"
    return order, f"exit order {order.client_order_id}: {order.status}"


def _observe(component: str, seconds: float, **labels: Any) -> None:
    metrics.observe_latency(component, seconds, **labels)
