"""Changing orders, fills and positions. Every status change goes through `order_transition`."""

from __future__ import annotations

import copy
import functools
import hashlib
import logging
import secrets
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Protocol

from django.db import IntegrityError, models, transaction
from django.utils import timezone

from apps.audit.actors import SYSTEM, Actor
from apps.audit.services import audit_entry, audit_record, audit_record_many
from apps.exchange.gateio import validate_client_order_id
from apps.monitoring import metrics
from apps.trading.models import Fill, Order, OrderStatus, OrderType, Origin, Position, Side
from apps.trading.state import IllegalTransition, check_transition, is_allowed
from apps.trading.venues import Venue, current_venue

log = logging.getLogger(__name__)

PLACES = Decimal("1e-16")
# What is left of a position after its exit, worth less than this in quote, cannot be sold on Gate.io
# (the smallest minimum notional is about 1 USDT); the position counts as closed and keeps it as dust.
DUST_QUOTE_VALUE = Decimal("1")
# What a figure of an order may reach: the columns keep 16 places and Decimal arithmetic carries 28 digits,
# so 12 digits before the point survive every step (apps.trading.bounds checks values and market limits).
MAX_FIGURE = Decimal(10) ** 12
CLIENT_ID_PREFIX = "t-tb-"
CLIENT_ID_LENGTH = 28


class OrderInputError(ValueError):
    """An order request that cannot be accepted; `field` names the bad input."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(f"{field}: {message}")


def q(value: Decimal) -> Decimal:
    return value.quantize(PLACES)


def new_client_order_id(intent: str | None = None) -> str:
    """A Gate.io-valid `text` of exactly 28 characters; derived from the intent when there is one,
    so a second attempt for the same intent produces the same id."""
    body_len = CLIENT_ID_LENGTH - len(CLIENT_ID_PREFIX)
    if intent:
        body = hashlib.sha256(intent.encode()).hexdigest()[:body_len]
    else:
        body = secrets.token_hex(body_len)[:body_len]
    return CLIENT_ID_PREFIX + body


def _decimal(field: str, value: Any, *, required: bool = False) -> Decimal | None:
    if value is None or value == "":
        if required:
            raise OrderInputError(field, "is required")
        return None
    if isinstance(value, float):
        raise OrderInputError(field, "must be a decimal string, not a float")
    try:
        result = Decimal(str(value))
    except (InvalidOperation, ValueError) as exc:
        raise OrderInputError(field, f"{value!r} is not a decimal number") from exc
    if not result.is_finite() or result <= 0:
        raise OrderInputError(field, "must be a positive number")
    if result >= MAX_FIGURE:
        raise OrderInputError(field, f"must be below {MAX_FIGURE:,} (what the books can hold)")
    return result


def order_snapshot(order: Order) -> dict[str, Any]:
    return {
        "status": order.status,
        "filled": str(order.filled),
        "exchange_order_id": order.exchange_order_id,
        "average_price": None if order.average_price is None else str(order.average_price),
    }


def order_input_clean(
    *, side: str, type: str, amount: Any, quote_amount: Any, price: Any, client_order_id: str | None = None
) -> tuple[Decimal | None, Decimal | None, Decimal | None]:
    """Check an order request (OrderInputError naming the field) and give its (amount, quote_amount, price)
    as Decimals; nothing is written."""
    if side not in Side.values:
        raise OrderInputError("side", f"must be one of {', '.join(Side.values)}")
    if type not in OrderType.values:
        raise OrderInputError("type", f"must be one of {', '.join(OrderType.values)}")
    amount_d = _decimal("amount", amount)
    quote_d = _decimal("quote_amount", quote_amount)
    price_d = _decimal("price", price, required=type == OrderType.LIMIT)
    if amount_d is None and quote_d is None:
        raise OrderInputError("amount", "give amount (base) or quote_amount")
    if amount_d is not None and quote_d is not None:
        raise OrderInputError("quote_amount", "give either amount or quote_amount, not both")
    if quote_d is not None and not (type == OrderType.MARKET and side == Side.BUY):
        raise OrderInputError("quote_amount", "only a market buy is sized in quote currency")
    if client_order_id is not None:
        try:
            validate_client_order_id(client_order_id)
        except ValueError as exc:
            raise OrderInputError("client_order_id", str(exc)) from exc
    return amount_d, quote_d, price_d


def order_build(
    *,
    symbol: str,
    side: str,
    type: str,
    amount: Any = None,
    quote_amount: Any = None,
    price: Any = None,
    origin: str = Origin.SIGNAL,
    intent: str | None = None,
    client_order_id: str | None = None,
    decision_id: int | None = None,
    position_id: int | None = None,
    venue: str | None = None,
    request_fingerprint: str = "",
    without_client_id: bool = False,
) -> Order:
    """An order checked (OrderInputError naming the field) and ready to record, not saved: `order_create`
    records it `new`, `order_insert(submitted=...)` records it already `submitted` (apps.trading.submission)."""
    if origin not in Origin.values:
        raise OrderInputError("origin", f"must be one of {', '.join(Origin.values)}")
    amount_d, quote_d, price_d = order_input_clean(
        side=side, type=type, amount=amount, quote_amount=quote_amount, price=price, client_order_id=client_order_id
    )
    if venue is not None and venue not in Venue.values:
        raise OrderInputError("venue", f"must be one of {', '.join(Venue.values)}")
    if position_id is not None:
        position_venue = Position.objects.filter(pk=position_id).values_list("venue", flat=True).first()
        if position_venue is None:
            raise OrderInputError("position_id", f"position {position_id} does not exist")
        if venue is not None and venue != position_venue:
            raise OrderInputError("venue", f"position {position_id} lives on {position_venue}, not {venue}")
        venue = position_venue
    if without_client_id and (origin != Origin.EXTERNAL or client_order_id is not None):
        raise OrderInputError("client_order_id", "only an external order without a client id may have none")
    client_id = None if without_client_id else client_order_id or new_client_order_id(intent)
    return Order(
        client_order_id=client_id,
        intent=intent,
        symbol=symbol,
        side=side,
        type=type,
        amount=amount_d,
        quote_amount=quote_d,
        price=price_d,
        origin=origin,
        decision_id=decision_id,
        position_id=position_id,
        venue=venue or current_venue(),
        request_fingerprint=request_fingerprint,
    )


def order_insert(
    *, order: Order, actor: Actor, submitted: dict[str, Any] | None = None, reason: str = "sending to the exchange"
) -> tuple[Order, bool]:
    """Record a built order (order_build): (the order, True), or (the order already recorded for its intent,
    False). One transaction: the row and its `order.create` audit row; with `submitted` (the prepared amount,
    quote_amount and price) the row goes in already `submitted`, with the new -> submitted audit row too, so
    it is committed `submitted` before anything is sent, as order_submit does it in two transactions.
    OrderInputError when its client id is another order's. The unique indexes (intent, client id) are the
    checks: no SELECT before the INSERT."""
    created = order_snapshot(order)
    if submitted is not None:
        order.status = OrderStatus.SUBMITTED
        order.submitted_at = timezone.now()
        for name, value in submitted.items():
            setattr(order, name, _as_stored(name, value))
    try:
        with transaction.atomic():
            order.save(force_insert=True)
            entries = [audit_entry(actor=actor, action="order.create", obj=order, after=created)]
            if submitted is not None:
                entries.append(
                    audit_entry(
                        actor=actor,
                        action="order.transition",
                        obj=order,
                        before=created,
                        after=order_snapshot(order),
                        message=reason,
                    )
                )
                _count_transition(OrderStatus.NEW, order)
            audit_record_many(entries)
    except IntegrityError:
        order.pk = None
        existing = Order.objects.filter(intent=order.intent).first() if order.intent else None
        if existing is not None:
            return existing, False
        if order.client_order_id and Order.objects.filter(client_order_id=order.client_order_id).exists():
            raise OrderInputError("client_order_id", f"{order.client_order_id} is already used") from None
        raise
    return order, True


def orders_insert_submitted(
    *,
    orders: list[tuple[Order, dict[str, Any]]],
    actor: Actor,
    in_transaction: Any = None,
    reason: str = "sending to the exchange",
) -> list[Order]:
    """order_insert(submitted=...) for many built orders (each with its prepared amount, quote_amount, price):
    one INSERT of the orders, one of their audit rows (create, new -> submitted), `in_transaction(orders)` and
    the commit. IntegrityError (an intent or client id already recorded), with nothing written."""
    now = timezone.now()
    built = []
    for order, submitted in orders:
        created = order_snapshot(order)
        order.status, order.submitted_at = OrderStatus.SUBMITTED, now
        for name, value in submitted.items():
            setattr(order, name, _as_stored(name, value))
        built.append((order, created))
    with transaction.atomic():
        recorded = Order.objects.bulk_create([order for order, _ in built])
        entries = []
        for order, created in built:
            entries.append(audit_entry(actor=actor, action="order.create", obj=order, after=created))
            entries.append(
                audit_entry(
                    actor=actor,
                    action="order.transition",
                    obj=order,
                    before=created,
                    after=order_snapshot(order),
                    message=reason,
                )
            )
            _count_transition(OrderStatus.NEW, order)
        audit_record_many(entries)
        if in_transaction is not None:
            in_transaction(recorded)
    return recorded


def order_create(*, actor: Actor, **fields: Any) -> Order:
    """Record an order in status `new` before anything is sent. Idempotent per intent: the order of an intent
    already recorded is returned as it is. `fields` as order_build: `without_client_id` for an order imported
    from the exchange whose `text` is not a client id (no `t-`); `venue`: the books it lives on (an order for a
    position lives on the position's venue, any other on the mode's, apps.trading.venues.current_venue, unless
    given)."""
    intent = fields.get("intent")
    if intent and transaction.get_connection().in_atomic_block:
        # Inside a caller's transaction: look first, and a concurrent insert of the same intent that wins
        # raises IntegrityError to the caller, as it always did (reconciliation counts on it).
        existing = Order.objects.filter(intent=intent).first()
        if existing is not None:
            return existing
        order, inserted = order_insert(order=order_build(**fields), actor=actor)
        if not inserted:
            raise IntegrityError(f"order intent {intent} recorded by a concurrent caller")
        return order
    return order_insert(order=order_build(**fields), actor=actor)[0]


_ORDER_FIELDS = frozenset(
    name for f in Order._meta.concrete_fields if not f.primary_key for name in (f.name, f.attname)
)


def _changed_fields(to: str, changes: dict[str, Any]) -> list[str]:
    fields = ["status", "updated_at", *(name for name in changes if name in _ORDER_FIELDS)]
    if to == OrderStatus.SUBMITTED:
        fields.append("submitted_at")
    return list(dict.fromkeys(fields))


_ACCEPTED = frozenset({OrderStatus.OPEN, OrderStatus.PARTIALLY_FILLED, OrderStatus.FILLED})


def _count_transition(before: str, order: Order) -> None:
    """The order families of apps.monitoring.metrics, counted once the transition has committed."""

    def count() -> None:
        try:
            to, origin, side = order.status, order.origin, order.side
            if to == OrderStatus.SUBMITTED:
                metrics.ORDERS_SUBMITTED.labels(side=side, type=order.type).inc()
            if to in _ACCEPTED and before in (OrderStatus.SUBMITTED, OrderStatus.UNKNOWN):
                metrics.ORDERS_SUCCESS.labels(side=side, origin=origin).inc()
            if to == OrderStatus.FILLED:
                metrics.ORDERS_FILLED.labels(side=side, origin=origin).inc()
            elif to == OrderStatus.CANCELLED:
                metrics.ORDERS_CANCELLED.labels(origin=origin).inc()
            elif to == OrderStatus.REJECTED:
                metrics.ORDERS_REJECTED.labels(reason="not_sent" if before == OrderStatus.NEW else "exchange").inc()
                metrics.ORDERS_FAIL.labels(reason="rejected").inc()
            elif to == OrderStatus.EXPIRED:
                metrics.ORDERS_FAIL.labels(reason="expired").inc()
            elif to == OrderStatus.UNKNOWN:
                metrics.ORDERS_FAIL.labels(reason="unknown").inc()
                metrics.ORDERS_OUTCOME_UNKNOWN.inc()
        except Exception:  # a metric must never break an order
            log.debug("order metric not counted", exc_info=True)

    transaction.on_commit(count)


def order_transition(
    *,
    order_id: int,
    to: str,
    actor: Actor = SYSTEM,
    by_reconciliation: bool = False,
    reason: str = "",
    current: Order | None = None,
    **changes: Any,
) -> Order:
    """Move an order to status `to`, with optional field changes, under a row lock.

    Refuses (IllegalTransition, audited) what the state machine does not allow. Two callers racing
    for the same transition: the first wins, the second finds the new status and is refused.
    `current`: the caller's copy of the order, just read or returned by order_transition; while the row
    is still that copy, the transition is one conditional UPDATE and the row is not read again.
    """
    if current is not None and current.pk == order_id:
        done = _transition_unchanged(current, to, actor, by_reconciliation, reason, changes)
        if done is not None:
            return done
    try:
        with transaction.atomic():
            order = Order.objects.select_for_update().get(pk=order_id)
            before = order_snapshot(order)
            check_transition(order.status, to, by_reconciliation=by_reconciliation, order_id=order.pk)
            order.status = to
            if to == OrderStatus.SUBMITTED:
                order.submitted_at = timezone.now()
            for name, value in changes.items():
                setattr(order, name, value)
            # Only what changed: the row is locked, so no other column can have moved since it was read.
            order.save(update_fields=_changed_fields(to, changes))
            audit_record(
                actor=actor,
                action="order.transition",
                obj=order,
                before=before,
                after=order_snapshot(order),
                message=reason,
            )
            _count_transition(before["status"], order)
            return order
    except IllegalTransition as exc:
        status_now = Order.objects.filter(pk=order_id).values_list("status", flat=True).first() or "missing"
        audit_record(
            actor=actor,
            action="order.transition_refused",
            object_type="trading.order",
            object_id=str(order_id),
            before={"status": status_now},
            after={"status": to},
            message=str(exc),
        )
        log.warning("refused order transition: %s", exc)
        _count_refused()
        raise


_DECIMAL_FIELDS = {f.name: f for f in Order._meta.concrete_fields if isinstance(f, models.DecimalField)}


def _as_stored(name: str, value: Any) -> Any:
    """A Decimal as reading the column gives it back (its decimal places), so the copy reads like the row."""
    field = _DECIMAL_FIELDS.get(name)
    if field is None or not isinstance(value, Decimal) or not value.is_finite():
        return value
    try:
        return value.quantize(Decimal(1).scaleb(-field.decimal_places), context=field.context)
    except InvalidOperation:
        return value  # too large for the column: the UPDATE reports it, as save() would


def _transition_unchanged(
    current: Order, to: str, actor: Actor, by_reconciliation: bool, reason: str, changes: dict[str, Any]
) -> Order | None:
    """order_transition as one UPDATE ... WHERE status and updated_at are still those of `current` (every
    write of an order row sets updated_at), plus the audit row, in one transaction. None, with nothing
    written, when the row has moved on or the state machine refuses: the locked path then decides."""
    if not is_allowed(current.status, to, by_reconciliation=by_reconciliation):
        return None
    order = copy.copy(current)
    order.status = to
    order.updated_at = timezone.now()
    if to == OrderStatus.SUBMITTED:
        order.submitted_at = order.updated_at
    for name, value in changes.items():
        setattr(order, name, _as_stored(name, value))
    fields = _changed_fields(to, changes)
    with transaction.atomic():
        values = {name: changes[name] if name in changes else getattr(order, name) for name in fields}
        won = Order.objects.filter(pk=current.pk, status=current.status, updated_at=current.updated_at).update(**values)
        if not won:
            return None
        audit_record(
            actor=actor,
            action="order.transition",
            obj=order,
            before=order_snapshot(current),
            after=order_snapshot(order),
            message=reason,
        )
        _count_transition(current.status, order)
    return order


def _count_refused() -> None:
    try:
        metrics.ORDER_TRANSITIONS_REFUSED.inc()
    except Exception:  # a metric must never break an order
        log.debug("refused transition not counted", exc_info=True)


def order_set_exchange_id(*, order: Order, exchange_order_id: str) -> Order:
    """Record the exchange's id once known; it never changes afterwards."""
    with transaction.atomic():
        locked = Order.objects.select_for_update().get(pk=order.pk)
        if locked.exchange_order_id and locked.exchange_order_id != exchange_order_id:
            raise ValueError(
                f"order {locked.pk} already has exchange id {locked.exchange_order_id}, not {exchange_order_id}"
            )
        if not locked.exchange_order_id:
            locked.exchange_order_id = exchange_order_id
            locked.last_exchange_update_at = timezone.now()
            locked.save(update_fields=["exchange_order_id", "last_exchange_update_at", "updated_at"])
        return locked


@dataclass(frozen=True)
class FillReport:
    """One trade as the exchange reports it."""

    trade_id: str
    price: Decimal
    amount: Decimal
    executed_at: datetime
    fee: Decimal = Decimal(0)
    fee_currency: str = ""
    is_maker: bool | None = None
    cost: Decimal | None = None

    @classmethod
    def from_trade(cls, trade: Any) -> FillReport:
        """From an exchange trade (apps.exchange.types.ExchangeTrade), fee in the currency charged."""
        return cls(
            trade_id=trade.trade_id,
            price=trade.price,
            amount=trade.amount,
            executed_at=trade.executed_at,
            fee=trade.fee,
            fee_currency=trade.fee_currency,
            is_maker=trade.is_maker,
            cost=trade.cost,
        )


def fill_apply(*, order: Order, report: FillReport, actor: Actor = SYSTEM) -> Fill | None:
    """Record a fill and update the order and its position. The same trade twice changes nothing:
    returns None when the trade was already recorded."""
    _, fills = fills_record(order=order, reports=[report], actor=actor)
    return fills[0] if fills else None


@dataclass
class OrderNews:
    """What the exchange said of one of our orders: for fills_record_many."""

    order: Order
    reports: list[FillReport]
    status: str | None = None  # the exchange's status; None: only what the fills reach
    reason: str = ""
    exchange_order_id: str | None = None
    changes: dict[str, Any] = field(default_factory=dict)  # more columns, written with a change (not alone)
    recorded: Order | None = None  # set by fills_record_many: the order as recorded
    fills: list[Fill] = field(default_factory=list)  # set by fills_record_many: the fills it recorded


def fills_record(
    *,
    order: Order,
    reports: list[FillReport],
    actor: Actor = SYSTEM,
    status: str | None = None,
    reason: str = "",
    by_reconciliation: bool = False,
    exchange_order_id: str | None = None,
    **changes: Any,
) -> tuple[Order, list[Fill]]:
    """Record what the exchange said of an order in one transaction: its exchange id (never changed once
    known: ValueError), the trades not recorded yet (the same trade twice changes nothing), the order's totals,
    its position (opened by a first buy) rebuilt from its fills, the position hooks (the protective exit armed,
    re-priced or retired), the status the fills reach (partially_filled / filled) and then `status` when the
    state machine allows it, every step audited. `changes`: more order columns (last_exchange_update_at).
    Returns (the order as recorded, the fills this call recorded). Each row is read once, under its lock."""
    news = OrderNews(order, reports, status, reason, exchange_order_id, changes)
    fills_record_many(news=[news], actor=actor, by_reconciliation=by_reconciliation)
    assert news.recorded is not None  # fills_record_many sets it for every news
    return news.recorded, news.fills


def fills_record_many(*, news: list[OrderNews], actor: Actor = SYSTEM, by_reconciliation: bool = False) -> None:
    """fills_record for many orders (of one venue and exchange) in one transaction, each step one statement
    for all of them: the orders locked, their known fills read, the new fills inserted, the orders updated,
    the audit rows inserted, the positions locked, their fills read and the positions updated, then the position
    hooks told of all of them at once. Sets each news' `recorded` and `fills`. Should a concurrent caller have
    recorded one of these trades or opened one of these positions first (IntegrityError), everything is
    rolled back and done again, reading what it committed."""
    for item in news:
        for report in item.reports:
            if report.amount <= 0 or report.price <= 0:
                raise ValueError(f"trade {report.trade_id}: amount and price must be positive")
    if len({(n.order.venue, n.order.exchange) for n in news}) > 1 or len({n.order.pk for n in news}) < len(news):
        for item in news:
            fills_record_many(news=[item], actor=actor, by_reconciliation=by_reconciliation)
        return
    for attempt in range(3):
        try:
            return _fills_record_many(news, actor, by_reconciliation)
        except IntegrityError:
            if attempt == 2:
                raise


def _fills_record_many(news: list[OrderNews], actor: Actor, by_reconciliation: bool) -> None:
    entries = []
    now = timezone.now()
    with transaction.atomic():
        locked = {
            o.pk: o for o in Order.objects.select_for_update().filter(pk__in=[n.order.pk for n in news]).order_by("pk")
        }
        first = locked[news[0].order.pk]
        same = {"venue": first.venue, "exchange": first.exchange}
        trade_ids = list(dict.fromkeys(r.trade_id for n in news for r in n.reports))
        known: list[tuple] = []
        if trade_ids:
            known = list(
                Fill.objects.filter(
                    models.Q(order_id__in=list(locked)) | models.Q(exchange_trade_id__in=trade_ids, **same)
                ).values_list(
                    "exchange_trade_id", "order_id", "amount", "cost", "fee", "fee_currency", "executed_at", "id"
                )
            )
        seen = {row[0] for row in known}
        changed: dict[int, set[str]] = {}
        all_new: list[Fill] = []
        for item in news:
            order = locked[item.order.pk]
            before = order_snapshot(order)
            fields: set[str] = set()
            if item.exchange_order_id:
                if order.exchange_order_id and order.exchange_order_id != item.exchange_order_id:
                    raise ValueError(
                        f"order {order.pk} already has exchange id {order.exchange_order_id},"
                        f" not {item.exchange_order_id}"
                    )
                if not order.exchange_order_id:
                    order.exchange_order_id, order.last_exchange_update_at = item.exchange_order_id, now
                    fields |= {"exchange_order_id", "last_exchange_update_at"}
            new = []
            for report in item.reports:
                if report.trade_id in seen:
                    continue
                seen.add(report.trade_id)
                new.append(
                    Fill(
                        **same,
                        exchange_trade_id=report.trade_id,
                        order=order,
                        symbol=order.symbol,
                        side=order.side,
                        price=report.price,
                        amount=report.amount,
                        cost=q(report.cost if report.cost is not None else report.price * report.amount),
                        fee=report.fee,
                        fee_currency=report.fee_currency,
                        is_maker=report.is_maker,
                        executed_at=report.executed_at,
                    )
                )
            item.recorded, item.fills = order, new
            steps: list[tuple[str, str]] = []
            if new:
                mine = [row[2:] for row in known if row[1] == order.pk]
                mine += [(f.amount, f.cost, f.fee, f.fee_currency, f.executed_at, 10**18) for f in new]
                mine.sort(key=lambda row: (row[4], row[5]), reverse=True)  # newest first, as order.fills reads them
                _order_totals(order, [row[:4] for row in mine])
                fields |= {"filled", "cost", "average_price", "fees", "fee_currency", "fee", "last_exchange_update_at"}
                if order.position_id is None:
                    order.position = _position_for(order, min(f.executed_at for f in new))
                    fields.add("position")
                for f in new:
                    after = {"trade_id": f.exchange_trade_id, "amount": str(f.amount), "price": str(f.price)}
                    entries.append(audit_entry(actor=actor, action="fill.apply", obj=order, after=after))
                    transaction.on_commit(functools.partial(_count_fill, order.side))
                if order.status != OrderStatus.UNKNOWN and not order.is_terminal:
                    complete = order.amount is not None and order.filled >= order.amount
                    target = OrderStatus.FILLED if complete else OrderStatus.PARTIALLY_FILLED
                    if target != order.status and is_allowed(order.status, target):
                        steps.append((target, "fill applied"))
            current = steps[-1][0] if steps else order.status
            if item.status and item.status != current:
                if is_allowed(current, item.status, by_reconciliation=by_reconciliation):
                    steps.append((item.status, item.reason))
                else:
                    log.info("order %s: not moving %s -> %s (%s)", order.pk, current, item.status, item.reason)
            if fields or steps:
                for name, value in item.changes.items():
                    setattr(order, name, value)
                    fields.add(name)
            previous = {**order_snapshot(order), "status": before["status"]}  # the fills applied, not moved yet
            for to, why in steps:
                order.status = to
                after = order_snapshot(order)
                entries.append(
                    audit_entry(
                        actor=actor, action="order.transition", obj=order, before=previous, after=after, message=why
                    )
                )
                stepped = copy.copy(order)
                _count_transition(previous["status"], stepped)
                previous = after
                fields.add("status")
            if fields:
                order.updated_at = now
                changed[order.pk] = fields | {"updated_at"}
            all_new += new
        if all_new:
            Fill.objects.bulk_create(all_new)
        if changed:
            columns = sorted(set().union(*changed.values()))
            Order.objects.bulk_update([locked[pk] for pk in sorted(changed)], columns)
        audit_record_many(entries)
        position_ids = sorted({pid for n in news if n.fills and (pid := locked[n.order.pk].position_id) is not None})
        if position_ids:
            # After the orders' rows: the positions' fills are read through their orders.
            positions = list(Position.objects.select_for_update().filter(pk__in=position_ids).order_by("pk"))
            fills_of: dict[int, list[Fill]] = {pk: [] for pk in position_ids}
            rows = (
                Fill.objects.filter(order__position_id__in=position_ids)
                .annotate(position_id=models.F("order__position_id"))
                .order_by("executed_at", "id")
            )
            for f in rows:
                fills_of[f.position_id].append(f)
            for position in positions:
                _position_compute(position, fills_of[position.pk])
            Position.objects.bulk_update(positions, _POSITION_COLUMNS)
            _positions_changed(changes=[(p, fills_of[p.pk]) for p in positions], actor=actor)


def _order_totals(order: Order, rows: list[tuple]) -> None:
    """Order totals derived from its fills' (amount, cost, fee, fee_currency), never incremented, so replays
    cannot double them."""
    filled = cost = Decimal(0)
    fees: dict[str, Decimal] = {}
    for amount, fill_cost, fee, fee_currency in rows:
        filled += amount
        cost += fill_cost
        if fee:
            fees[fee_currency] = fees.get(fee_currency, Decimal(0)) + fee
    order.filled = filled
    order.cost = q(cost)
    order.average_price = q(cost / filled) if filled else None
    order.fees = {k: str(v) for k, v in fees.items()}
    if fees:
        order.fee_currency = order.fee_currency if order.fee_currency in fees else next(iter(fees))
        order.fee = fees[order.fee_currency]
    order.last_exchange_update_at = timezone.now()


def _count_fill(side: str) -> None:
    try:
        metrics.FILLS_RECORDED.labels(side=side).inc()
    except Exception:  # a metric must never break a fill
        log.debug("fill not counted", exc_info=True)


class PositionHook(Protocol):
    """Told of the positions whose fills changed, inside the transaction that recorded the fills: each position
    locked and rebuilt, with its fills (oldest first), so the hook need not read them again."""

    def __call__(self, *, changes: list[tuple[Position, list[Fill]]], actor: Actor) -> object: ...


_position_hooks: list[PositionHook] = []


def position_hook_register(hook: PositionHook) -> None:
    """Call `hook` after every fill that changed a position, in the fill's transaction (an error in it rolls
    the fill back). Registered at start-up by the layers above, e.g. the protective exits (apps.exits.apps)."""
    if hook not in _position_hooks:
        _position_hooks.append(hook)


def _positions_changed(*, changes: list[tuple[Position, list[Fill]]], actor: Actor) -> None:
    """Every fill path (submission, refresh, reconciliation, paper) ends here, so protective exits are
    armed, re-priced or retired in the same transaction as the fills that changed the positions."""
    for hook in _position_hooks:
        hook(changes=changes, actor=actor)


def _position_for(order: Order, when: datetime) -> Position | None:
    """The open position of the order's venue its fills belong to; a buy opens one when there is none."""
    position = (
        Position.objects.select_for_update()
        .filter(venue=order.venue, symbol=order.symbol, status=Position.Status.OPEN)
        .first()
    )
    if position is None and order.side == Side.BUY:
        try:
            with transaction.atomic():  # a savepoint: the unique index may refuse this row
                position = Position.objects.create(venue=order.venue, symbol=order.symbol, opened_at=when)
        except IntegrityError:
            # Another first buy of this venue and symbol opened the position at the same moment; PostgreSQL
            # refused ours only once that transaction had committed, so the row is there to lock and join.
            position = Position.objects.select_for_update().get(
                venue=order.venue, symbol=order.symbol, status=Position.Status.OPEN
            )
    return position


@transaction.atomic
def position_recompute(*, position_id: int) -> Position:
    """Rebuild a position from its fills: amount net of base fees, cost basis, realized PnL after fees."""
    position = Position.objects.select_for_update().get(pk=position_id)
    fills = list(Fill.objects.filter(order__position_id=position.pk).order_by("executed_at", "id"))
    _position_compute(position, fills)
    position.save()
    return position


_POSITION_COLUMNS = [
    "amount",
    "cost_basis",
    "realized_pnl",
    "fees_quote",
    "fees_other",
    "average_entry_price",
    "status",
    "closed_at",
    "updated_at",
]


def _position_compute(position: Position, fills: list[Fill]) -> None:
    """position_recompute's arithmetic on the position's fills (oldest first), on the instance only."""
    base, quote = position.base_currency, position.quote_currency
    amount = cost_basis = realized = fees_quote = Decimal(0)
    fees_other: dict[str, Decimal] = {}
    last_sell_at = None
    for fill in fills:
        fee_quote = fill.fee if fill.fee_currency == quote else Decimal(0)
        fee_base = fill.fee if fill.fee_currency == base else Decimal(0)
        if fill.fee and fill.fee_currency not in (base, quote):
            fees_other[fill.fee_currency] = fees_other.get(fill.fee_currency, Decimal(0)) + fill.fee
        fees_quote += fee_quote + fee_base * fill.price
        if fill.side == Side.BUY:
            amount += fill.amount - fee_base
            cost_basis += fill.cost + fee_quote
        else:
            qty_out = min(fill.amount + fee_base, amount)
            basis_out = cost_basis * qty_out / amount if amount else Decimal(0)
            realized += fill.cost - fee_quote - basis_out
            amount -= qty_out
            cost_basis -= basis_out
            last_sell_at = fill.executed_at
    position.amount = q(amount)
    position.cost_basis = q(cost_basis)
    position.realized_pnl = q(realized)
    position.fees_quote = q(fees_quote)
    position.fees_other = {k: str(v) for k, v in fees_other.items()}
    if amount > 0:
        position.average_entry_price = q(cost_basis / amount)
    dust = amount * position.average_entry_price < DUST_QUOTE_VALUE
    if last_sell_at is not None and dust:
        position.status = Position.Status.CLOSED
        position.closed_at = last_sell_at
    elif position.status == Position.Status.CLOSED and not dust:
        position.status = Position.Status.OPEN
        position.closed_at = None
    position.updated_at = timezone.now()
