"""Exit orders: one claim per exit, one order per attempt (intent `exit:<exit_id>:<attempt>`), retries,
stuck and failed exits.

Correctness never depends on a lock around the pass: every step that must happen once is a conditional
UPDATE (armed -> triggered, attempt n -> n + 1) that only one worker wins, and the order of an attempt is
made idempotently from its intent, so a worker that resumes another's attempt finds the same order, which
`order_submit` sends at most once.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from apps.audit.actors import Actor
from apps.audit.services import audit_record
from apps.exchange.broker import Broker, ExchangeError
from apps.exchange.gateio import round_down
from apps.exchange.services import order_cancel, order_refresh, order_submit
from apps.exits import notify
from apps.exits.models import ProtectiveExit
from apps.trading.models import Order, OrderStatus, OrderType, Origin, Position, Side
from apps.trading.services import order_create

log = logging.getLogger(__name__)

S = ProtectiveExit.Status
LIVE = frozenset({OrderStatus.SUBMITTED, OrderStatus.OPEN, OrderStatus.PARTIALLY_FILLED, OrderStatus.UNKNOWN})


def exit_intent(exit_id: int, attempt: int | str) -> str:
    return f"exit:{exit_id}:{attempt}"


def stuck_after() -> timedelta:
    return timedelta(seconds=settings.EXITS_STUCK_AFTER_SEC)


def claim(*, exit_id: int, reason: str, price: Decimal | None, now: datetime, actor: Actor) -> bool:
    """armed -> triggered, attempt 1. Exactly one caller wins, whatever the number of workers."""
    won = ProtectiveExit.objects.filter(pk=exit_id, status=S.ARMED).update(
        status=S.TRIGGERED,
        trigger_reason=reason,
        trigger_price=price,
        triggered_at=now,
        attempts=1,
        attempted_at=now,
        exit_order=None,
        updated_at=timezone.now(),
    )
    if won:
        audit_record(
            actor=actor,
            action="exit.trigger",
            object_type="exits.protectiveexit",
            object_id=str(exit_id),
            after={"reason": reason, "price": None if price is None else str(price)},
        )
        notify.count_triggered(reason)
    return bool(won)


def claim_retry(*, exit: ProtectiveExit, now: datetime) -> bool:
    """Attempt n -> n + 1, only when attempt n's order is still the exit's order (one winner)."""
    won = ProtectiveExit.objects.filter(
        pk=exit.pk, status=S.TRIGGERED, attempts=exit.attempts, exit_order_id=exit.exit_order_id
    ).update(attempts=F("attempts") + 1, exit_order=None, attempted_at=now, updated_at=timezone.now())
    return bool(won)


def _attempt_order(exit: ProtectiveExit, position: Position, amount: Decimal, actor: Actor) -> Order:
    intent = exit_intent(exit.pk, exit.attempts)
    try:
        return order_create(
            symbol=exit.symbol,
            side=Side.SELL,
            type=OrderType.MARKET,
            amount=amount,
            origin=Origin.PROTECTIVE_EXIT,
            intent=intent,
            position_id=position.pk,
            actor=actor,
        )
    except IntegrityError:  # another worker made it a moment ago
        return Order.objects.get(intent=intent)


def fail(*, exit: ProtectiveExit, why: str, actor: Actor) -> bool:
    """triggered -> failed, with a critical alert: the position is open and no longer protected."""
    won = ProtectiveExit.objects.filter(pk=exit.pk, status=S.TRIGGERED).update(
        status=S.FAILED, last_error=why[:2000], updated_at=timezone.now()
    )
    if won:
        audit_record(actor=actor, action="exit.fail", obj=exit, message=why)
        notify.count_failed(exit.trigger_reason or "unknown")
        notify.alert(
            kind="exit_failed",
            key=f"exit-failed:{exit.pk}",
            severity="critical",
            text=f"Protective exit #{exit.pk} {exit.symbol} FAILED after {exit.attempts} attempt(s): {why}. "
            f"Position #{exit.position_id} is open and unprotected; close it by hand.",
        )
    return bool(won)


def mark_stuck(*, exit: ProtectiveExit, now: datetime, why: str) -> None:
    """Alert once per attempt; the severity rises with the attempts (escalation)."""
    ProtectiveExit.objects.filter(pk=exit.pk, stuck_at__isnull=True).update(stuck_at=now)
    severity = "warning" if exit.attempts <= 1 else "error"
    notify.alert(
        kind="exit_stuck",
        key=f"exit-stuck:{exit.pk}:{exit.attempts}",
        severity=severity,
        text=f"Protective exit #{exit.pk} {exit.symbol} ({exit.trigger_reason}) triggered at "
        f"{exit.triggered_at:%H:%M:%S} is not filled after attempt {exit.attempts} of "
        f"{settings.EXITS_MAX_ATTEMPTS}: {why}",
    )


def send_attempt(
    *, exit_id: int, broker: Broker, actor: Actor, now: datetime, result, last: Decimal | None
) -> Order | None:
    """Make (or resume) the order of the exit's current attempt and submit it."""
    from apps.exits import stops
    from apps.exits.services import exit_sync

    exit = ProtectiveExit.objects.select_related("position", "exit_order").get(pk=exit_id)
    if exit.status != S.TRIGGERED:
        return exit.exit_order
    position = exit.position
    if position.status != Position.Status.OPEN or position.amount <= 0:
        with transaction.atomic():
            exit_sync(position_id=position.pk, actor=actor)
        return exit.exit_order
    if exit.exchange_stop_order_id:
        adopted = stops.retire_before_sell(exit=exit, broker=broker, actor=actor, now=now)
        if adopted is not None:
            result.stops_fired += 1
            return adopted
    order = exit.exit_order
    if order is None or order.intent != exit_intent(exit.pk, exit.attempts):
        market = broker.market(exit.symbol)
        amount = round_down(position.amount, market.amount_precision)
        if amount <= 0 or amount < market.min_amount or (last is not None and amount * last < market.min_notional):
            fail(
                exit=exit,
                why=f"{position.amount} {market.base} left is below the minimums of {exit.symbol}",
                actor=actor,
            )
            result.failed += 1
            return None
        order = _attempt_order(exit, position, amount, actor)
        ProtectiveExit.objects.filter(pk=exit.pk, status=S.TRIGGERED, attempts=exit.attempts).update(
            exit_order=order, updated_at=timezone.now()
        )
    if order.status == OrderStatus.NEW:
        # An unavailable exchange leaves it `new`: the next pass sends this same attempt (no attempt is spent).
        order = order_submit(order=order, broker=broker, actor=actor, hold_when_unavailable=True)
        if order.status != OrderStatus.NEW:
            result.orders_sent += 1
    if order.status == OrderStatus.REJECTED:
        ProtectiveExit.objects.filter(pk=exit.pk).update(last_error=order.last_error[:2000])
    exit.refresh_from_db()
    if exit.status == S.TRIGGERED and order.is_terminal and exit.attempts >= settings.EXITS_MAX_ATTEMPTS:
        fail(
            exit=exit,
            why=f"attempt {exit.attempts} ended {order.status}: {order.last_error or 'not filled'}",
            actor=actor,
        )
        result.failed += 1
    return order


def advance(*, exit: ProtectiveExit, broker: Broker, actor: Actor, now: datetime, result, last: Decimal | None) -> None:
    """One step for an exit already triggered: resume, refresh, retry, flag stuck or fail."""
    from apps.exits.services import exit_sync

    order = exit.exit_order
    if order is None or order.status == OrderStatus.NEW:
        send_attempt(exit_id=exit.pk, broker=broker, actor=actor, now=now, result=result, last=last)
        return
    since = exit.attempted_at or exit.triggered_at or now
    if order.status in LIVE:
        order = order_refresh(order=order, broker=broker, actor=actor)
        exit.refresh_from_db()
        if exit.status != S.TRIGGERED or order.status not in LIVE:
            return  # filled (exit_sync closed it), or ended: the next pass retries
        if now - since >= stuck_after():
            result.stuck += 1
            mark_stuck(exit=exit, now=now, why=f"order {order.client_order_id} is still {order.status}")
            if order.status in (OrderStatus.OPEN, OrderStatus.PARTIALLY_FILLED):
                order_cancel(order=order, broker=broker, actor=actor)  # then the next attempt sells the rest
        return
    position = Position.objects.get(pk=exit.position_id)
    if position.status != Position.Status.OPEN:
        with transaction.atomic():
            exit_sync(position_id=position.pk, actor=actor)
        return
    if exit.attempts >= settings.EXITS_MAX_ATTEMPTS:
        if fail(exit=exit, why=f"{exit.attempts} attempts, the last ended {order.status}", actor=actor):
            result.failed += 1
        return
    if exit.triggered_at and now - exit.triggered_at >= stuck_after():
        result.stuck += 1
        mark_stuck(exit=exit, now=now, why=f"attempt {exit.attempts} ended {order.status} {order.last_error}".strip())
    if claim_retry(exit=exit, now=now):
        log.info("exit %s: attempt %s for the rest of position %s", exit.pk, exit.attempts + 1, position.pk)
        send_attempt(exit_id=exit.pk, broker=broker, actor=actor, now=now, result=result, last=last)


def run_safely(label: str, errors: list[str], fn, /, *args, **kwargs):
    """One exit's trouble (exchange down, a refused order) must not stop the pass for the others."""
    try:
        return fn(*args, **kwargs)
    except ExchangeError as exc:
        log.warning("exits: %s: %s", label, exc)
        errors.append(f"{label}: {exc}")
    except Exception as exc:
        log.exception("exits: %s failed", label)
        errors.append(f"{label}: {type(exc).__name__}: {exc}")
    return None
