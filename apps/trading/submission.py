"""Submitting, refreshing and cancelling orders: the one place an order reaches an exchange, and where its
answer is recorded (fills through apps.trading.services.fill_apply).

`order_submit` is idempotent: the order is `submitted` (committed) before anything is sent, with the client
id made before sending. When the answer is lost it looks the order up by client id, then in the finished
orders and in our trades since just before submission (Gate.io forgets custom ids once an order finishes).
Not found proves nothing while the request may still be executed (until its x-gate-exptime, set when it
left) or may not be visible yet (Gate.io's visibility lag), give or take the clock skew between us: so it
waits that out and looks again. Only then, as the last resort, it re-sends once with the same client id
(counted in `order_resends_total{symbol}` and alerted); otherwise the order stays `unknown` for
reconciliation. Every status change goes through apps.trading.services.order_transition.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta

from django.db import DatabaseError
from django.utils import timezone

from apps.audit.actors import Actor
from apps.exchange.broker import (
    AuthenticationError,
    Broker,
    BusinessError,
    CircuitOpen,
    ExchangeError,
    InsufficientFunds,
    InvalidOrder,
    RateLimited,
    RateLimitWaitExceeded,
    TransientExchangeError,
)
from apps.exchange.types import ExchangeOrder, OrderRequest
from apps.monitoring import metrics
from apps.notifications import notify
from apps.trading.models import Order, OrderStatus
from apps.trading.services import FillReport, fill_apply, order_set_exchange_id, order_transition
from apps.trading.state import IllegalTransition, is_allowed
from apps.trading.venues import check_venue

log = logging.getLogger(__name__)

# How far before submission the finished-orders and trades search starts (clock skew between us and them).
SEARCH_MARGIN = timedelta(minutes=2)
# Waits (seconds) before sending an order again after a 429 (at most this many times).
RATE_LIMIT_RETRIES = (0.5, 1.0)


def _client_id(order: Order) -> str:
    """Every order sent from here has a client id (only orders imported from the exchange lack one)."""
    if not order.client_order_id:
        raise ValueError(f"order {order.pk} has no client_order_id: it was imported, not made here")
    return order.client_order_id


def _request(order: Order) -> OrderRequest:
    return OrderRequest(
        symbol=order.symbol,
        side=order.side,
        type=order.type,
        client_order_id=_client_id(order),
        amount=order.amount,
        quote_amount=order.quote_amount,
        price=order.price,
    )


def _transition(
    order: Order, to: str, actor: Actor, reason: str, *, by_reconciliation: bool = False, fresh: bool = False, **changes
):
    """order_transition when the state machine allows it; otherwise the order unchanged (already further).
    `fresh`: `order` was just read or written by us, so its status need not be read again."""
    current = order if fresh else Order.objects.get(pk=order.pk)
    if current.status != to and is_allowed(current.status, to, by_reconciliation=by_reconciliation):
        try:
            return order_transition(
                order_id=order.pk,
                to=to,
                actor=actor,
                by_reconciliation=by_reconciliation,
                reason=reason,
                current=current,
                **changes,
            )
        except IllegalTransition:
            current = Order.objects.get(pk=order.pk)
    if current.status != to:
        log.info("order %s: not moving %s -> %s (%s)", order.pk, current.status, to, reason)
    if changes.get("exchange_order_id") and not current.exchange_order_id:
        current = order_set_exchange_id(order=current, exchange_order_id=changes["exchange_order_id"])
    return current


def order_submit(*, order: Order, broker: Broker, actor: Actor, hold_when_unavailable: bool = False) -> Order:
    """Send a `new` order once. Returns the order as recorded afterwards (submitted / open / filled /
    rejected / unknown ...). Refused before anything was sent (bad parameters, the breaker open, the limiter
    or its Redis unavailable, the markets unreadable) it ends `rejected` with the reason, never `new` for ever.
    `hold_when_unavailable` (protective exits, which retry the same order next pass): an unavailable exchange
    raises instead and leaves the order `new`. Raises WrongVenue, sending nothing, for an order of other books."""
    order = Order.objects.get(pk=order.pk)
    if order.status != OrderStatus.NEW:
        return order  # already sent (or refused) by an earlier attempt: never twice
    check_venue(venue=order.venue, broker=broker, what=f"order {order.pk} ({order.client_order_id})")
    try:
        prepared = broker.prepare_order(_request(order))
        broker.check_available("private_orders")  # CircuitOpen: nothing sent
    except InvalidOrder as exc:
        return _transition(order, OrderStatus.REJECTED, actor, "refused before sending", last_error=str(exc))
    except Exception as exc:
        if hold_when_unavailable or isinstance(exc, DatabaseError):
            raise  # the database failing cannot record a rejection either: the order stays new, unsent
        log.warning("order %s (%s): not sent: %s", order.pk, order.client_order_id, exc)
        why = f"not sent: {type(exc).__name__}: {exc}"
        return _transition(order, OrderStatus.REJECTED, actor, "refused before sending", last_error=why)
    try:
        order = order_transition(
            order_id=order.pk,
            to=OrderStatus.SUBMITTED,
            actor=actor,
            reason="sending to the exchange",
            current=order,
            amount=prepared.amount,
            quote_amount=prepared.quote_amount,
            price=prepared.price,
        )
    except IllegalTransition:
        return Order.objects.get(pk=order.pk)  # a concurrent caller is sending it
    sent_at = timezone.now()
    try:
        answer = _create_through_429s(broker, prepared)
    except (CircuitOpen, RateLimitWaitExceeded) as exc:
        return _transition(order, OrderStatus.REJECTED, actor, "not sent", last_error=f"not sent: {exc}")
    except BusinessError as exc:
        return _transition(order, OrderStatus.REJECTED, actor, "exchange refused", last_error=str(exc))
    except RateLimited as exc:  # still refused after the retries: nothing was executed
        return _transition(order, OrderStatus.REJECTED, actor, "rate limited", last_error=f"rate limited: {exc}")
    except TransientExchangeError as exc:
        log.warning("order %s (%s): answer lost (%s); looking it up", order.pk, order.client_order_id, exc)
        return _resolve_lost_answer(
            order=order, request=prepared, broker=broker, actor=actor, sent_at=sent_at, error=exc
        )
    return _record(order=order, answer=answer, broker=broker, actor=actor, reason="exchange accepted")


def _create_through_429s(broker: Broker, request: OrderRequest) -> ExchangeOrder:
    """create_order, sent again after a 429: TOO_MANY_REQUESTS is an answer (Gate.io refused the request without
    executing it), so this retry cannot make a second order. Our limiter keeps under Gate.io's 10 orders / s
    per market, but requests bunched up on the way can still cross it."""
    for wait in RATE_LIMIT_RETRIES:
        try:
            return broker.create_order(request)
        except RateLimitWaitExceeded:
            raise
        except RateLimited as exc:
            log.info("order %s: 429 from the exchange, sending again in %.1f s", request.client_order_id, wait)
            time.sleep(min(exc.retry_after or wait, 5.0))
    return broker.create_order(request)


def find_on_exchange(*, broker: Broker, symbol: str, client_order_id: str, since: datetime) -> ExchangeOrder | None:
    """Our order on the exchange by client id: among open orders, then finished orders, then our trades.
    None means every list said no; a failing list raises (TransientExchangeError): then we do not know."""
    found = broker.fetch_order_by_client_id(symbol, client_order_id)
    if found is not None:
        return found
    for candidate in broker.fetch_closed_orders(symbol, since):
        if candidate.client_order_id == client_order_id:
            return candidate
    for trade in broker.fetch_my_trades(symbol, since):
        if trade.client_order_id == client_order_id and trade.exchange_order_id:
            return broker.fetch_order(symbol, trade.exchange_order_id)
    return None


def lost_answer_settles_at(broker: Broker, error: BaseException, sent_at: datetime) -> datetime:
    """From when a lost create_order can no longer appear on the exchange: the broker knows its request's
    expiry, visibility lag and clock skew (GateBroker); a paper broker answers at once."""
    return broker.lost_answer_settles_at(error, sent_at)


def _wait_until(moment: datetime) -> bool:
    """Sleep until `moment`; True when there was something to wait for."""
    remaining = (moment - timezone.now()).total_seconds()
    if remaining > 0:
        time.sleep(remaining)
    return remaining > 0


def _look_up(*, order: Order, broker: Broker, sent_at: datetime, settles_at: datetime) -> ExchangeOrder | None:
    """find_on_exchange; when nothing is found while the request could still execute or not be visible yet,
    wait until `settles_at` and look again."""
    client_id, since = _client_id(order), sent_at - SEARCH_MARGIN
    found = find_on_exchange(broker=broker, symbol=order.symbol, client_order_id=client_id, since=since)
    if found is None and _wait_until(settles_at):
        found = find_on_exchange(broker=broker, symbol=order.symbol, client_order_id=client_id, since=since)
    return found


def _reached(broker: Broker) -> None:
    broker.order_reached_exchange()


def _count_resend(order: Order, error: Exception) -> None:
    """Every re-send is counted and alerted: it is the last resort, and a person should know it happened."""
    log.warning("order %s (%s): not on the exchange; sending it once more", order.pk, order.client_order_id)
    try:
        metrics.ORDER_RESENDS.labels(symbol=order.symbol).inc()
    except Exception:  # a metric must never break order placement
        log.debug("order_resends_total not updated", exc_info=True)
    notify(
        "order_resent",
        f"Order {order.pk} {order.side} {order.symbol} ({order.client_order_id}): the answer was lost "
        f"({error}) and the exchange did not have it after its expiry; sent once more.",
        key=f"order-resent:{order.pk}",
        severity="warning",
    )


def _resolve_lost_answer(
    *, order: Order, request: OrderRequest, broker: Broker, actor: Actor, sent_at: datetime, error: Exception
) -> Order:
    settles_at = lost_answer_settles_at(broker, error, sent_at)
    try:
        found = _look_up(order=order, broker=broker, sent_at=sent_at, settles_at=settles_at)
    except ExchangeError as exc:
        return _unknown(order, actor, f"answer lost ({error}); lookup failed: {exc}")
    if found is not None:
        _reached(broker)
        return _record(order=order, answer=found, broker=broker, actor=actor, reason="found after a lost answer")
    # Open orders, finished orders and trades all say the exchange does not have it, and the first request
    # can no longer arrive nor still be invisible: sending it once more with the same client id cannot make a
    # second order.
    _count_resend(order, error)
    sent_again_at = timezone.now()
    try:
        answer = broker.create_order(request)
    except (CircuitOpen, RateLimitWaitExceeded) as exc:
        return _transition(
            order,
            OrderStatus.REJECTED,
            actor,
            "not on the exchange, re-send not possible",
            last_error=f"answer lost ({error}); not on the exchange; re-send not sent: {exc}",
        )
    except BusinessError as exc:
        return _transition(order, OrderStatus.REJECTED, actor, "exchange refused the re-send", last_error=str(exc))
    except TransientExchangeError as exc:
        try:
            settles_again_at = lost_answer_settles_at(broker, exc, sent_again_at)
            found = _look_up(order=order, broker=broker, sent_at=sent_again_at, settles_at=settles_again_at)
        except ExchangeError as lookup_exc:
            return _unknown(order, actor, f"re-send answer lost ({exc}); lookup failed: {lookup_exc}")
        if found is None:
            return _unknown(order, actor, f"answer lost twice ({error}; {exc}); not found on the exchange")
        _reached(broker)
        return _record(order=order, answer=found, broker=broker, actor=actor, reason="found after a lost re-send")
    return _record(order=order, answer=answer, broker=broker, actor=actor, reason="accepted on re-send")


def _unknown(order: Order, actor: Actor, why: str) -> Order:
    log.error("order %s (%s) is unknown: %s", order.pk, order.client_order_id, why)
    return _transition(order, OrderStatus.UNKNOWN, actor, "outcome unknown, left to reconciliation", last_error=why)


def _record(
    *, order: Order, answer: ExchangeOrder, broker: Broker, actor: Actor, reason: str, by_reconciliation: bool = False
) -> Order:
    """Record the exchange id, the fills (from the trades, fees as charged) and the exchange's status."""
    changes: dict = {"last_exchange_update_at": timezone.now()}
    if answer.filled > 0 or order.exchange_order_id or answer.status in (OrderStatus.UNKNOWN, OrderStatus.SUBMITTED):
        order = order_set_exchange_id(order=order, exchange_order_id=answer.exchange_order_id)
    else:
        changes["exchange_order_id"] = answer.exchange_order_id  # recorded with the status, in one transaction
    fresh = answer.filled <= 0 and answer.filled_exact
    if answer.filled > 0 or not answer.filled_exact:
        since = (order.submitted_at or order.created_at) - SEARCH_MARGIN
        trades = broker.fetch_my_trades(order.symbol, since, order_id=answer.exchange_order_id)
        for trade in trades:
            if trade.exchange_order_id != answer.exchange_order_id:
                continue
            fill_apply(order=order, actor=actor, report=FillReport.from_trade(trade))
    if answer.status == OrderStatus.UNKNOWN or answer.status == OrderStatus.SUBMITTED:
        return Order.objects.get(pk=order.pk)
    return _transition(order, answer.status, actor, reason, by_reconciliation=by_reconciliation, fresh=fresh, **changes)


def order_refresh(*, order: Order, broker: Broker, actor: Actor, by_reconciliation: bool = False) -> Order:
    """Read the order from the exchange (by exchange id, or by client id when it has none) and apply its
    status and trades. An `unknown` order moves only with by_reconciliation=True."""
    order = Order.objects.get(pk=order.pk)
    check_venue(venue=order.venue, broker=broker, what=f"order {order.pk} ({order.client_order_id})")
    answer: ExchangeOrder | None
    if order.exchange_order_id:
        answer = broker.fetch_order(order.symbol, order.exchange_order_id)
    else:
        since = (order.submitted_at or order.created_at) - SEARCH_MARGIN
        answer = find_on_exchange(broker=broker, symbol=order.symbol, client_order_id=_client_id(order), since=since)
        if answer is None:
            return order
    return _record(
        order=order, answer=answer, broker=broker, actor=actor, reason="refreshed", by_reconciliation=by_reconciliation
    )


def order_cancel(*, order: Order, broker: Broker, actor: Actor) -> Order:
    """Ask the exchange to cancel; the status changes to what the exchange then reports. An order never
    sent (`new`) is cancelled locally."""
    order = Order.objects.get(pk=order.pk)
    if order.status == OrderStatus.NEW:
        return _transition(order, OrderStatus.CANCELLED, actor, "cancelled before sending")
    if order.is_terminal:
        return order
    check_venue(venue=order.venue, broker=broker, what=f"order {order.pk} ({order.client_order_id})")
    if not order.exchange_order_id:
        raise InvalidOrder(f"order {order.pk} has no exchange id yet ({order.status}); reconcile it first")
    try:
        answer = broker.cancel_order(order.symbol, order.exchange_order_id)
    except (InsufficientFunds, AuthenticationError):
        raise
    except BusinessError as exc:
        # Gate.io refuses to cancel a finished order with ORDER_NOT_FOUND, ORDER_CLOSED, ORDER_CANCELLED or
        # ORDER_FINISHED depending on the case: whatever the label, read what happened instead.
        refreshed = order_refresh(order=order, broker=broker, actor=actor)
        if refreshed.is_terminal:
            return refreshed
        raise InvalidOrder(
            f"cancel of order {order.pk} refused and the order is still {refreshed.status}: {exc}"
        ) from exc
    return _record(order=order, answer=answer, broker=broker, actor=actor, reason="cancel confirmed")
