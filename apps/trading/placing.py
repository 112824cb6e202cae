"""Placing an order a client sized (POST /api/orders): risk-checked, and safe to retry under its client id.

Retries are safe by contract, as with Stripe's idempotency keys: a client_order_id that already exists gives
that order back (a `new` one left by an interrupted first attempt is sent now, once), the same id with a
different request is refused. The answer is never a bare failure for an order that may have gone out: when the
database drops while the order is being sent, the order is read again on a fresh connection and, if it was
sent, left `unknown` for reconciliation, which looks it up on the exchange by client id.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db import Error as DatabaseError
from django.db import IntegrityError, connection

from apps.audit.actors import Actor
from apps.exchange.broker import Broker
from apps.risk.rules import Requested
from apps.risk.services import risk_check
from apps.trading.models import Order, OrderStatus, Origin
from apps.trading.services import OrderInputError, order_create, order_input_clean, order_transition
from apps.trading.submission import order_submit
from apps.trading.venues import venue_of

log = logging.getLogger(__name__)

CREATED, EXISTING, PENDING = "created", "existing", "pending"


class RiskRefused(Exception):
    """A risk rule refused the order (recorded as a RiskEvent); nothing was written or sent."""

    def __init__(self, verdict: Any) -> None:
        super().__init__(f"refused by risk rule {verdict.rule}: {verdict.message}")
        self.verdict = verdict


class ClientIdConflict(Exception):
    """The client_order_id is already an order of another request (or other books)."""


class NotSent(Exception):
    """The database failed before the order could be sent: nothing went out, a retry is safe."""


@dataclass(frozen=True)
class Placed:
    order: Order
    outcome: str  # created (a new order, its outcome known) / existing (a retry) / pending (outcome not known)


def fingerprint(*, symbol: str, side: str, type: str, amount: Any, quote_amount: Any, price: Any) -> str:
    """The request's identity: the same order asked twice hashes the same ("0.010" is "0.01")."""

    def norm(value: Decimal | None) -> str | None:
        return None if value is None else format(value.normalize(), "f")

    amount_d, quote_d, price_d = order_input_clean(
        side=side, type=type, amount=amount, quote_amount=quote_amount, price=price
    )
    body = {
        "symbol": symbol,
        "side": side,
        "type": type,
        "amount": norm(amount_d),
        "quote_amount": norm(quote_d),
        "price": norm(price_d),
    }
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def _existing(client_order_id: str, digest: str, venue: str) -> Order | None:
    order = Order.objects.filter(client_order_id=client_order_id).first()
    if order is None:
        return None
    if order.venue != venue:
        raise ClientIdConflict(
            f"client_order_id {client_order_id} is order {order.pk} of the {order.venue} books; use a new client id"
        )
    if order.request_fingerprint != digest:
        raise ClientIdConflict(
            f"client_order_id {client_order_id} was already used for order {order.pk} "
            f"({order.side} {order.type} {order.symbol}) with a different request; use a new client id"
        )
    return order


def _fresh_connection() -> None:
    """After a dropped connection: let the next query open a new one (we are not inside a transaction)."""
    try:
        connection.close()
    except DatabaseError:
        pass


def _after_database_error(order_id: int, actor: Actor, error: Exception) -> Order | None:
    """The database failed while the order was being sent. Read it again: `new` means nothing was sent; `submitted`
    means it may have reached the exchange and its answer was not recorded: `unknown`, for reconciliation."""
    _fresh_connection()
    try:
        order = Order.objects.get(pk=order_id)
        if order.status == OrderStatus.SUBMITTED:
            order = order_transition(
                order_id=order.pk,
                to=OrderStatus.UNKNOWN,
                actor=actor,
                reason="database failed while the exchange's answer was recorded",
                last_error=f"answer not recorded: {type(error).__name__}: {error}"[:2000],
            )
        return order
    except Exception:
        log.exception("order %s: still no database after a failure while sending", order_id)
        return None


def _reject_unsent(order: Order, actor: Actor, error: Exception) -> None:
    """An order that never went out ends `rejected` with the reason, not `new` for ever."""
    try:
        order_transition(
            order_id=order.pk,
            to=OrderStatus.REJECTED,
            actor=actor,
            reason="refused before sending",
            last_error=f"not sent: the database failed ({type(error).__name__}: {error})"[:2000],
        )
    except Exception:
        log.exception("order %s: could not record that it was not sent", order.pk)


def place_requested_order(
    *,
    symbol: str,
    side: str,
    type: str,
    broker: Broker,
    actor: Actor,
    now: datetime,
    amount: Any = None,
    quote_amount: Any = None,
    price: Any = None,
    client_order_id: str | None = None,
) -> Placed:
    """Risk-check, record and send an operator's order once. Raises OrderInputError (bad input), RiskRefused,
    ClientIdConflict, NotSent (database down before sending); never fails for an order that may be out."""

    venue = venue_of(broker)
    amount_d, quote_d, price_d = order_input_clean(
        side=side, type=type, amount=amount, quote_amount=quote_amount, price=price, client_order_id=client_order_id
    )
    digest = fingerprint(symbol=symbol, side=side, type=type, amount=amount, quote_amount=quote_amount, price=price)
    try:
        if client_order_id and (found := _existing(client_order_id, digest, venue)) is not None:
            return Placed(order_submit(order=found, broker=broker, actor=actor), EXISTING)
        verdict = risk_check(
            symbol=symbol,
            side=side,
            broker=broker,
            now=now,
            actor=actor,
            requested=Requested(amount=amount_d, quote_amount=quote_d, price=price_d),
        )
        if not verdict.allowed:
            raise RiskRefused(verdict)
        try:
            order = order_create(
                actor=actor,
                symbol=symbol,
                side=side,
                type=type,
                amount=amount_d,
                quote_amount=quote_d,
                price=price_d,
                client_order_id=client_order_id,
                origin=Origin.OPERATOR,
                venue=venue,
                request_fingerprint=digest,
            )
        except (IntegrityError, OrderInputError) as exc:
            # Two retries racing with one client id: the loser answers with the winner's order.
            if client_order_id and (found := _existing(client_order_id, digest, venue)) is not None:
                return Placed(found, EXISTING)
            raise exc
    except DatabaseError as exc:
        log.warning("order request not recorded (%s): nothing was sent", exc)
        _fresh_connection()
        # `type` is the order type here: the builtin is out of reach (calling it raised TypeError instead).
        raise NotSent(f"the database failed before the order was sent ({exc.__class__.__name__}); retry") from exc
    try:
        sent = order_submit(order=order, broker=broker, actor=actor)
    except DatabaseError as exc:
        log.warning("order %s (%s): database failed while sending: %s", order.pk, order.client_order_id, exc)
        reread = _after_database_error(order.pk, actor, exc)
        if reread is None:  # still unreadable: it may be out; the id lets the client ask again
            order.status, order.last_error = OrderStatus.UNKNOWN, f"database unavailable: {exc}"[:2000]
            return Placed(order, PENDING)
        sent = reread
        if reread.status == OrderStatus.NEW:  # nothing went out (it is sent only once `submitted` is committed)
            try:
                sent = order_submit(order=reread, broker=broker, actor=actor)
            except DatabaseError as again:
                left = _after_database_error(order.pk, actor, again)
                if left is not None and left.status == OrderStatus.NEW:
                    _reject_unsent(left, actor, again)
                raise NotSent(f"the database failed twice before order {order.pk} was sent; retry") from again
    pending = sent.status in (OrderStatus.UNKNOWN, OrderStatus.SUBMITTED)
    return Placed(sent, PENDING if pending else CREATED)
