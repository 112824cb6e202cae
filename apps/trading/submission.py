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

import functools
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any

from django.db import DatabaseError, IntegrityError, connection
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
from apps.trading.services import (
    FillReport,
    OrderNews,
    fills_record,
    fills_record_many,
    order_build,
    order_create,
    order_insert,
    order_set_exchange_id,
    order_transition,
    orders_insert_submitted,
)
from apps.trading.state import IllegalTransition, is_allowed
from apps.trading.venues import Venue, check_venue, venue_of

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
    return _send(order=order, prepared=prepared, broker=broker, actor=actor)


def order_place(*, broker: Broker, actor: Actor, hold_when_unavailable: bool = False, **fields: Any) -> Order:
    """order_create + order_submit, with `new` and `submitted` and their audit rows in one transaction
    committed before the request leaves (so still sent at most once). `fields` as apps.trading.services
    .order_build. The same intent again: its order, sent only if it is still `new`. Whatever cannot be sent
    now (refused parameters, the breaker open, the markets unreadable, an order of other books) takes
    order_submit's own way: recorded `new` first, then rejected or left `new` as order_submit decides."""
    order = order_build(**fields)
    prepared = None
    if order.venue == venue_of(broker):
        try:
            prepared = broker.prepare_order(_request(order))
            broker.check_available("private_orders")
        except Exception:
            prepared = None
    if prepared is None:
        placed = order_create(actor=actor, **fields)
        return order_submit(order=placed, broker=broker, actor=actor, hold_when_unavailable=hold_when_unavailable)
    order, inserted = order_insert(order=order, actor=actor, submitted=_prepared_fields(prepared))
    if not inserted:  # recorded by an earlier attempt of this intent
        return order_submit(order=order, broker=broker, actor=actor, hold_when_unavailable=hold_when_unavailable)
    return _send(order=order, prepared=prepared, broker=broker, actor=actor)


def _send(*, order: Order, prepared: OrderRequest, broker: Broker, actor: Actor) -> Order:
    """Send a `submitted` order (committed so) and record the answer."""
    sent_at = timezone.now()
    try:
        answer = _create_through_429s(broker, prepared)
    except ExchangeError as exc:
        return _not_accepted(order=order, prepared=prepared, broker=broker, actor=actor, sent_at=sent_at, error=exc)
    return _record(order=order, answer=answer, broker=broker, actor=actor, reason="exchange accepted")


def _not_accepted(
    *, order: Order, prepared: OrderRequest, broker: Broker, actor: Actor, sent_at: datetime, error: ExchangeError
) -> Order:
    """What create_order raising `error` means for the order: refused (rejected), or the answer lost."""
    if isinstance(error, (CircuitOpen, RateLimitWaitExceeded)):
        return _transition(order, OrderStatus.REJECTED, actor, "not sent", last_error=f"not sent: {error}")
    if isinstance(error, BusinessError):
        return _transition(order, OrderStatus.REJECTED, actor, "exchange refused", last_error=str(error))
    if isinstance(error, RateLimited):  # still refused after the retries: nothing was executed
        return _transition(order, OrderStatus.REJECTED, actor, "rate limited", last_error=f"rate limited: {error}")
    if isinstance(error, TransientExchangeError):
        log.warning("order %s (%s): answer lost (%s); looking it up", order.pk, order.client_order_id, error)
        return _resolve_lost_answer(
            order=order, request=prepared, broker=broker, actor=actor, sent_at=sent_at, error=error
        )
    raise error


# Orders sent at once by orders_place_many, and answers recorded per transaction.
SEND_WORKERS = 8
RECORD_BATCH = 50


def orders_place_many(
    *,
    orders: list[Order],
    broker: Broker,
    actor: Actor,
    in_transaction: Callable[[list[Order]], None] | None = None,
    workers: int = SEND_WORKERS,
) -> list[Order | None]:
    """order_place for many built orders (apps.trading.services.order_build) at once, e.g. the exits a pass
    triggered: all recorded `submitted` with their audit rows in one transaction (`in_transaction(recorded)` runs
    in it, e.g. to link them to what they are for), committed before any is sent; then sent concurrently by
    `workers` threads (the broker's limiter keeps each market within its orders budget, waiting if need be),
    each answer's trades read by the same thread; the answers recorded in transactions of RECORD_BATCH orders
    (fills, positions and their exits as order_submit records them). Refusals and lost answers take
    order_submit's own way, one by one. Returns, in the same places, each order as recorded, or None for an
    order not placed here (its parameters refused, the exchange unavailable, an intent already recorded): the
    caller sends those one by one (order_create + order_submit), as before."""
    placed: list[Order | None] = [None] * len(orders)
    if not orders:
        return placed
    venue = venue_of(broker)
    try:
        broker.check_available("private_orders")
    except Exception as exc:
        log.info("orders not placed together (%s): sent one by one", exc)
        return placed
    ready: list[tuple[int, Order, OrderRequest]] = []
    for i, order in enumerate(orders):
        if order.venue != venue:
            continue
        try:
            ready.append((i, order, broker.prepare_order(_request(order))))
        except Exception:
            continue  # order_submit records the refusal
    if not ready:
        return placed
    try:
        recorded = orders_insert_submitted(
            orders=[(order, _prepared_fields(prepared)) for _, order, prepared in ready],
            actor=actor,
            in_transaction=in_transaction,
        )
    except IntegrityError:
        log.info("orders not placed together (an intent or client id already recorded): sent one by one")
        return placed
    ready = [(i, order, prepared) for (i, _, prepared), order in zip(ready, recorded, strict=True)]

    def send(prepared: OrderRequest):
        sent_at = timezone.now()
        try:
            answer = _create_through_429s(broker, prepared)
            trades = None
            if answer.filled > 0 or not answer.filled_exact:
                trades = _trades_of(broker, prepared.symbol, answer, sent_at)
            return sent_at, answer, trades, None
        except Exception as exc:  # recorded below, in the caller's thread
            return sent_at, None, None, exc

    def send_in_thread(prepared: OrderRequest):
        try:
            return send(prepared)
        finally:
            if connection.connection is not None:  # a breaker or limiter row read in this thread
                connection.close()

    requests = [prepared for _, _, prepared in ready]
    if venue == Venue.LIVE and not connection.in_atomic_block and len(requests) > 1:
        with ThreadPoolExecutor(max_workers=max(1, min(workers, len(requests)))) as pool:
            answers = list(pool.map(send_in_thread, requests))
    else:
        # Inside a caller's transaction another thread's connection would wait on its locks; the paper broker
        # books its fills in our database: one after another, in this thread.
        answers = [send(prepared) for prepared in requests]
    later, news = [], []
    for (i, order, prepared), (sent_at, answer, trades, error) in zip(ready, answers, strict=True):
        if answer is None:
            later.append((i, order, prepared, sent_at, error))
        elif trades is None:  # no fill: the exchange id with the status, one UPDATE of its own
            record = functools.partial(
                _record, order=order, answer=answer, broker=broker, actor=actor, reason="exchange accepted"
            )
            placed[i] = _record_safely(order, record)
        else:
            news.append((i, _news(order, answer, trades, "exchange accepted")))
    for start in range(0, len(news), RECORD_BATCH):
        batch = news[start : start + RECORD_BATCH]
        try:
            fills_record_many(news=[item for _, item in batch], actor=actor)
        except Exception:
            log.exception("answers of %s orders not recorded together: one by one", len(batch))
            for _, item in batch:

                def record_one(item: OrderNews = item) -> Order:
                    return fills_record(
                        order=item.order, reports=item.reports, actor=actor, status=item.status, reason=item.reason,
                        exchange_order_id=item.exchange_order_id, **item.changes,
                    )[0]  # fmt: skip

                item.recorded = _record_safely(item.order, record_one)
        for i, item in batch:
            placed[i] = item.recorded or item.order
    for i, order, prepared, sent_at, error in later:
        if isinstance(error, ExchangeError):
            placed[i] = _not_accepted(
                order=order, prepared=prepared, broker=broker, actor=actor, sent_at=sent_at, error=error
            )
        else:
            log.error("order %s (%s): not sent: %s", order.pk, order.client_order_id, error)
            placed[i] = order  # `submitted`: its refresh or reconciliation finds out
    return placed


def _record_safely(order: Order, record: Callable[[], Order]) -> Order:
    try:
        return record()
    except Exception:
        log.exception("order %s (%s): answer not recorded; left to its refresh", order.pk, order.client_order_id)
        return order


def _news(order: Order, answer: ExchangeOrder, trades: list, reason: str) -> OrderNews:
    """What `answer` and its trades say of `order`, for fills_record(_many)."""
    pending = answer.status in (OrderStatus.UNKNOWN, OrderStatus.SUBMITTED)
    return OrderNews(
        order=order,
        reports=[FillReport.from_trade(t) for t in trades if t.exchange_order_id == answer.exchange_order_id],
        status=None if pending else answer.status,
        reason=reason,
        exchange_order_id=answer.exchange_order_id,
        changes={"last_exchange_update_at": timezone.now()},
    )


def _prepared_fields(prepared: OrderRequest) -> dict[str, Any]:
    return {"amount": prepared.amount, "quote_amount": prepared.quote_amount, "price": prepared.price}


def _trades_of(broker: Broker, symbol: str, answer: ExchangeOrder, submitted_at: datetime) -> list:
    return broker.fetch_my_trades(symbol, submitted_at - SEARCH_MARGIN, order_id=answer.exchange_order_id)


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
    *,
    order: Order,
    answer: ExchangeOrder,
    broker: Broker,
    actor: Actor,
    reason: str,
    by_reconciliation: bool = False,
    trades: list | None = None,
) -> Order:
    """Record the exchange id, the fills (from the trades, fees as charged) and the exchange's status. With fills,
    all of it (fills, order, position, its exit, the status) in one transaction (fills_record)."""
    now = timezone.now()
    pending = answer.status in (OrderStatus.UNKNOWN, OrderStatus.SUBMITTED)
    if answer.filled > 0 or not answer.filled_exact:
        if trades is None:  # (orders_place_many reads them in its sending thread)
            try:
                trades = _trades_of(broker, order.symbol, answer, order.submitted_at or order.created_at)
            except Exception:
                # The order is out: keep its exchange id before giving up (a database failing here is the
                # caller's DatabaseError, as before).
                order_set_exchange_id(order=order, exchange_order_id=answer.exchange_order_id)
                raise
        item = _news(order, answer, trades, reason)
        recorded, _ = fills_record(
            order=order,
            reports=item.reports,
            actor=actor,
            status=item.status,
            reason=reason,
            by_reconciliation=by_reconciliation,
            exchange_order_id=item.exchange_order_id,
            **item.changes,
        )
        return recorded
    changes: dict = {"last_exchange_update_at": now}
    if order.exchange_order_id or pending:
        order = order_set_exchange_id(order=order, exchange_order_id=answer.exchange_order_id)
    else:
        changes["exchange_order_id"] = answer.exchange_order_id  # recorded with the status, in one transaction
    if pending:
        return Order.objects.get(pk=order.pk)
    return _transition(order, answer.status, actor, reason, by_reconciliation=by_reconciliation, fresh=True, **changes)


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
