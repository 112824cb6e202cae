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
from django.utils import timezone

from apps.audit.actors import Actor
from apps.exchange.broker import Broker
from apps.exchange.gateio import round_down
from apps.exits import notify, stops
from apps.exits.arming import exit_sync
from apps.exits.models import ProtectiveExit
from apps.exits.transitions import claim_retry, exit_intent, exit_transition, run_safely
from apps.trading.models import Order, OrderStatus, OrderType, Origin, Position, Side
from apps.trading.services import order_build, order_create
from apps.trading.submission import order_cancel, order_refresh, order_submit, orders_place_many

log = logging.getLogger(__name__)

S = ProtectiveExit.Status
LIVE = frozenset({OrderStatus.SUBMITTED, OrderStatus.OPEN, OrderStatus.PARTIALLY_FILLED, OrderStatus.UNKNOWN})


def stuck_after() -> timedelta:
    return timedelta(seconds=settings.EXITS_STUCK_AFTER_SEC)


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
    won = exit_transition(
        exit_id=exit.pk,
        actor=actor,
        action="fail",
        when={"status": S.TRIGGERED},
        message=why,
        status=S.FAILED,
        last_error=why[:2000],
    )
    if won:
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
    exit_transition(exit_id=exit.pk, actor=None, action=None, when={"stuck_at__isnull": True}, stuck_at=now)
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
        exit_transition(
            exit_id=exit.pk,
            actor=None,
            action=None,
            when={"status": S.TRIGGERED, "attempts": exit.attempts},
            exit_order=order,
        )
    if order.status == OrderStatus.NEW:
        # An unavailable exchange leaves it `new`: the next pass sends this same attempt (no attempt is spent).
        order = order_submit(order=order, broker=broker, actor=actor, hold_when_unavailable=True)
        if order.status != OrderStatus.NEW:
            result.orders_sent += 1
    if order.status == OrderStatus.REJECTED:
        exit_transition(exit_id=exit.pk, actor=None, action=None, last_error=order.last_error[:2000])
    exit.refresh_from_db()
    if exit.status == S.TRIGGERED and order.is_terminal and exit.attempts >= settings.EXITS_MAX_ATTEMPTS:
        fail(
            exit=exit,
            why=f"attempt {exit.attempts} ended {order.status}: {order.last_error or 'not filled'}",
            actor=actor,
        )
        result.failed += 1
    return order


def send_claimed(
    *, claimed: list[tuple[int, str, Decimal]], broker: Broker, actor: Actor, now: datetime, result
) -> None:
    """The first attempt of every exit this pass claimed (exit id, reason, last price), together: the exits and
    their positions read in one query, their orders recorded `submitted` in one transaction that also links
    each to its exit, sent concurrently within each market's orders budget and their answers recorded in
    batched transactions (apps.trading.submission.orders_place_many). An exit that needs more than a plain
    market sell (its position already closed, an exchange-side stop to retire first, below the minimums, or an
    order that was not placed together) goes through send_attempt, one by one, as before."""
    last = {exit_id: price for exit_id, _, price in claimed}
    exits = list(ProtectiveExit.objects.select_related("position").filter(pk__in=list(last)).order_by("pk"))
    alone: list[int] = []
    together: list[tuple[ProtectiveExit, Order]] = []
    for exit in exits:
        position = exit.position
        if (
            exit.status != S.TRIGGERED
            or position.status != Position.Status.OPEN
            or position.amount <= 0
            or exit.exchange_stop_order_id
        ):
            alone.append(exit.pk)
            continue
        try:
            market = broker.market(exit.symbol)
        except Exception:
            alone.append(exit.pk)  # send_attempt reports it
            continue
        amount = round_down(position.amount, market.amount_precision)
        price = last[exit.pk]
        if amount <= 0 or amount < market.min_amount or (price is not None and amount * price < market.min_notional):
            alone.append(exit.pk)  # send_attempt fails it with the reason
            continue
        order = order_build(
            symbol=exit.symbol,
            side=Side.SELL,
            type=OrderType.MARKET,
            amount=amount,
            origin=Origin.PROTECTIVE_EXIT,
            intent=exit_intent(exit.pk, exit.attempts),
            venue=position.venue,
        )
        order.position = position  # (order_build would read the position's venue again)
        together.append((exit, order))

    def link(orders: list[Order]) -> None:
        stamp = timezone.now()
        for (exit, _), order in zip(together, orders, strict=True):
            exit.exit_order, exit.updated_at = order, stamp
        ProtectiveExit.objects.bulk_update([exit for exit, _ in together], ["exit_order", "updated_at"])

    placed = orders_place_many(orders=[order for _, order in together], broker=broker, actor=actor, in_transaction=link)
    for (exit, _), sent in zip(together, placed, strict=True):
        if sent is None:
            alone.append(exit.pk)
            continue
        result.orders_sent += 1
        if sent.status != OrderStatus.FILLED:
            alone.append(exit.pk)  # rejected, resting or unknown: send_attempt records it (and fails the last one)
    for exit_id in sorted(alone):
        run_safely(
            f"exit {exit_id}", result.errors, send_attempt, exit_id=exit_id, broker=broker, actor=actor, now=now,
            result=result, last=last.get(exit_id),
        )  # fmt: skip


def advance(*, exit: ProtectiveExit, broker: Broker, actor: Actor, now: datetime, result, last: Decimal | None) -> None:
    """One step for an exit already triggered: resume, refresh, retry, flag stuck or fail."""
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
    if claim_retry(exit=exit, now=now, actor=actor):
        log.info("exit %s: attempt %s for the rest of position %s", exit.pk, exit.attempts + 1, position.pk)
        send_attempt(exit_id=exit.pk, broker=broker, actor=actor, now=now, result=result, last=last)
