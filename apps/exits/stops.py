"""Exchange-side stops (EXITS_ON_EXCHANGE): a Gate.io price-triggered sell at the stop-loss, so a bot that is
down is still protected. Placed, re-placed and cancelled by the exits pass, never inside a DB transaction.

Exactly one seller: before the bot sells by itself it cancels the stop; when the cancel finds that the stop
already fired, the order the exchange placed becomes the exit's order instead of sending another.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError
from django.db.models import F, Q
from django.utils import timezone

from apps.audit.actors import Actor
from apps.exchange.broker import Broker, ExchangeError, InvalidOrder, OrderNotFound
from apps.exchange.types import TriggerOrder
from apps.exits import notify
from apps.exits.models import ProtectiveExit
from apps.exits.transitions import claim, exit_intent, exit_transition, run_safely
from apps.trading.models import Order, OrderStatus, OrderType, Origin, Side
from apps.trading.services import new_client_order_id, order_create, order_set_exchange_id, order_transition
from apps.trading.submission import order_refresh
from apps.trading.venues import venue_of

log = logging.getLogger(__name__)

S = ProtectiveExit.Status
R = ProtectiveExit.Reason
POLL_EVERY = timedelta(seconds=30)  # how often a placed stop is read back to see whether it fired
POLL_MAX_PER_PASS = 20
# Gate.io spells it both ways (the SDK `cancelled`, a real recorded price order `canceled`); the parser
# already writes `cancelled`, this keeps either meaning "gone" wherever a status comes from.
GONE = frozenset({"cancelled", "canceled", "expired", "failed"})
CLEARED: dict[str, Any] = {
    "exchange_stop_order_id": "",
    "exchange_stop_client_id": "",
    "exchange_stop_price": None,
    "exchange_stop_amount": None,
    "exchange_stop_checked_at": None,
}


def _clear(exit: ProtectiveExit, stop_id: str, actor: Actor, action: str) -> bool:
    """Forget the exit's exchange stop `stop_id` (still the recorded one), audited as `exit.<action>`."""
    return exit_transition(
        exit_id=exit.pk,
        actor=actor,
        action=action,
        when={"exchange_stop_order_id": stop_id},
        after={"stop": stop_id},
        **CLEARED,
    )


def _read_after_cancel(exit: ProtectiveExit, broker: Broker) -> TriggerOrder | None:
    """Cancel the stop and read what the exchange says: None when it is gone (cancelled now or before, expired,
    failed), the stop itself when it fired, so the position is already sold and must not be sold again.

    Gate.io answers the cancel of a stop that already fired either with 200 and the fired order (status
    `finish`, `fired_order_id`), or with not found; a cancel that does not raise is therefore not proof that
    the stop is gone: its answer is read, and when it is not plainly cancelled the stop is read back."""
    try:
        answer: TriggerOrder | None = broker.cancel_trigger_order(exit.symbol, exit.exchange_stop_order_id)
    except OrderNotFound:
        answer = None  # no longer open: fired, expired, failed, or cancelled before
    if answer is not None:
        if answer.fired_order_id and answer.status not in GONE:
            return answer
        if answer.status in GONE:
            return None
    try:
        stop = broker.fetch_trigger_order(exit.symbol, exit.exchange_stop_order_id)
    except OrderNotFound:
        log.warning("exit %s: stop %s not found after its cancel; taken as gone", exit.pk, exit.exchange_stop_order_id)
        return None
    if stop.fired_order_id and stop.status not in GONE:
        return stop
    if stop.status in GONE:
        return None
    raise ExchangeError(f"stop {stop.exchange_order_id} of exit {exit.pk} is still {stop.status} after its cancel")


def adopt_fired(*, exit: ProtectiveExit, stop: TriggerOrder, broker: Broker, actor: Actor) -> Order:
    """The exchange sold for us: that order becomes the exit's order; its fills close the position."""
    if not stop.fired_order_id:
        raise ValueError(f"stop {stop.exchange_order_id} of exit {exit.pk} has not fired: nothing to adopt")
    intent = exit_intent(exit.pk, "stop")
    order = Order.objects.filter(venue=exit.position.venue, exchange_order_id=stop.fired_order_id).first()
    if order is None:
        order = Order.objects.filter(intent=intent).first()
    if order is None:
        try:
            order = order_create(
                symbol=exit.symbol,
                side=Side.SELL,
                type=OrderType.MARKET,
                amount=stop.amount,
                origin=Origin.PROTECTIVE_EXIT,
                intent=intent,
                client_order_id=exit.exchange_stop_client_id or new_client_order_id(intent),
                position_id=exit.position_id,
                actor=actor,
            )
        except IntegrityError:
            order = Order.objects.get(intent=intent)
    if order.status == OrderStatus.NEW:
        # It may have filled long ago (the bot was down): its trades are searched from when the exit was armed.
        order = order_transition(
            order_id=order.pk,
            to=OrderStatus.SUBMITTED,
            actor=actor,
            reason="placed by the exchange stop",
            submitted_at=exit.armed_at,
        )
    if not order.exchange_order_id:
        order = order_set_exchange_id(order=order, exchange_order_id=stop.fired_order_id)
    exit_transition(
        exit_id=exit.pk,
        actor=actor,
        action="exchange_stop_fired",
        when={"status": S.TRIGGERED},
        after={"order": stop.fired_order_id},
        exit_order=order,
        trigger_reason=R.EXCHANGE_STOP,
        trigger_price=stop.trigger_price,
    )
    return order_refresh(order=order, broker=broker, actor=actor)


def retire_before_sell(*, exit: ProtectiveExit, broker: Broker, actor: Actor, now: datetime) -> Order | None:
    """Cancel the exit's stop before the bot sells. Returns the exchange's order when the stop had fired."""
    stop_id = exit.exchange_stop_order_id
    fired = _read_after_cancel(exit, broker)  # an ExchangeError propagates: we do not sell while unsure
    if fired is None:
        _clear(exit, stop_id, actor, "exchange_stop_cancelled")
        return None
    return adopt_fired(exit=exit, stop=fired, broker=broker, actor=actor)


def _place(exit: ProtectiveExit, broker: Broker, actor: Actor, result) -> None:
    old_id = exit.exchange_stop_order_id
    if old_id:  # re-priced or resized: the old stop goes first
        fired = _read_after_cancel(exit, broker)
        if fired is not None:
            if claim(
                exit_id=exit.pk, reason=R.EXCHANGE_STOP, price=fired.trigger_price, now=timezone.now(), actor=actor
            ):
                result.triggered += 1
                result.stops_fired += 1
                adopt_fired(exit=exit, stop=fired, broker=broker, actor=actor)
            return
        _clear(exit, old_id, actor, "exchange_stop_cancelled")
    amount = exit.position.amount
    client_id = new_client_order_id(f"{exit_intent(exit.pk, 'stop')}:{exit.stop_loss_price}:{amount}")
    try:
        stop = broker.create_trigger_order(exit.symbol, Side.SELL, amount, exit.stop_loss_price, "<=", client_id)
    except InvalidOrder as exc:
        exit_transition(exit_id=exit.pk, actor=None, action=None, last_error=f"exchange stop not placed: {exc}"[:2000])
        return
    won = exit_transition(
        exit_id=exit.pk,
        actor=actor,
        action="exchange_stop_placed",
        when={"status": S.ARMED, "exchange_stop_order_id": ""},
        after={"stop": stop.exchange_order_id},
        exchange_stop_order_id=stop.exchange_order_id,
        exchange_stop_client_id=client_id,
        exchange_stop_price=exit.stop_loss_price,
        exchange_stop_amount=amount,
        exchange_stop_checked_at=timezone.now(),
    )
    if not won:  # triggered meanwhile, or another worker placed its own: ours must not stay
        broker.cancel_trigger_order(exit.symbol, stop.exchange_order_id)
        return
    result.stops_placed += 1


def _poll(exit: ProtectiveExit, broker: Broker, actor: Actor, now: datetime, result) -> None:
    stop = broker.fetch_trigger_order(exit.symbol, exit.exchange_stop_order_id)
    if stop.fired_order_id and stop.status not in GONE:
        if claim(exit_id=exit.pk, reason=R.EXCHANGE_STOP, price=stop.trigger_price, now=now, actor=actor):
            result.triggered += 1
            result.stops_fired += 1
            exit.refresh_from_db()
            adopt_fired(exit=exit, stop=stop, broker=broker, actor=actor)
        return
    if stop.status in GONE:  # expired or refused on the exchange: place a fresh one next pass
        notify.alert(
            kind="exit_stop_gone",
            key=f"exit-stop-gone:{exit.pk}:{stop.exchange_order_id}",
            text=f"Exchange stop of exit #{exit.pk} {exit.symbol} is {stop.status}; placing it again.",
        )
        _clear(exit, exit.exchange_stop_order_id, actor, "exchange_stop_gone")
        return
    exit_transition(exit_id=exit.pk, actor=None, action=None, exchange_stop_checked_at=now)


def _retire(exit: ProtectiveExit, broker: Broker, actor: Actor, result) -> None:
    """The position closed: its stop must not sell what is no longer ours to sell."""
    stop_id = exit.exchange_stop_order_id
    fired = _read_after_cancel(exit, broker)
    own = (
        exit.exit_order is not None and fired is not None and exit.exit_order.exchange_order_id == fired.fired_order_id
    )
    if fired is not None and not own:
        notify.alert(
            kind="exit_stop_fired_late",
            key=f"exit-stop-late:{exit.pk}",
            severity="critical",
            text=f"Exchange stop of exit #{exit.pk} {exit.symbol} fired (order {fired.fired_order_id}) after the "
            f"position was closed; reconciliation will import that sell.",
        )
    _clear(exit, stop_id, actor, "exchange_stop_cancelled")
    result.stops_cancelled += 1


def sync_stops(*, broker: Broker, actor: Actor, now: datetime, result) -> None:
    """Place / re-place stops of armed exits, detect fired ones, cancel those of closed positions; only the
    exits of the broker's venue."""
    mine = ProtectiveExit.objects.filter(position__venue=venue_of(broker))
    if settings.EXITS_ON_EXCHANGE:
        stale = (
            mine.filter(status=S.ARMED, position__amount__gt=0)
            .filter(
                Q(exchange_stop_order_id="")
                | ~Q(exchange_stop_price=F("stop_loss_price"))
                | ~Q(exchange_stop_amount=F("position__amount"))
            )
            .select_related("position")
        )
        for exit in stale:
            run_safely(f"place stop of exit {exit.pk}", result.errors, _place, exit, broker, actor, result)
    due = (
        mine.filter(status=S.ARMED)
        .exclude(exchange_stop_order_id="")
        .filter(Q(exchange_stop_checked_at__isnull=True) | Q(exchange_stop_checked_at__lte=now - POLL_EVERY))
        .order_by(F("exchange_stop_checked_at").asc(nulls_first=True))[:POLL_MAX_PER_PASS]
    )
    for exit in due:
        run_safely(f"poll stop of exit {exit.pk}", result.errors, _poll, exit, broker, actor, now, result)
    closed = (
        mine.filter(status__in=(S.FILLED, S.CANCELLED)).exclude(exchange_stop_order_id="").select_related("exit_order")
    )
    for exit in closed:
        run_safely(f"cancel stop of exit {exit.pk}", result.errors, _retire, exit, broker, actor, result)
