"""Changing orders, fills and positions. Every status change goes through `order_transition`."""

from __future__ import annotations

import copy
import functools
import hashlib
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Protocol

from django.db import IntegrityError, models, transaction
from django.utils import timezone

from apps.audit.actors import SYSTEM, Actor
from apps.audit.services import audit_record
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


@transaction.atomic
def order_create(
    *,
    symbol: str,
    side: str,
    type: str,
    actor: Actor,
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
    """Record an order in status `new` before anything is sent. Idempotent per intent.
    `without_client_id`: an order imported from the exchange whose `text` is not a client id (no `t-`).

    `venue`: the books it lives on; an order for a position lives on the position's venue, any other on the
    mode's (apps.trading.venues.current_venue) unless given."""
    if intent:
        existing = Order.objects.filter(intent=intent).first()
        if existing is not None:
            return existing
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
    if client_id is not None and Order.objects.filter(client_order_id=client_id).exists():
        raise OrderInputError("client_order_id", f"{client_id} is already used")
    order = Order.objects.create(
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
    audit_record(actor=actor, action="order.create", obj=order, after=order_snapshot(order))
    return order


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
    if report.amount <= 0 or report.price <= 0:
        raise ValueError(f"trade {report.trade_id}: amount and price must be positive")
    with transaction.atomic():
        locked = Order.objects.select_for_update().get(pk=order.pk)
        same_trade = {"venue": locked.venue, "exchange": locked.exchange, "exchange_trade_id": report.trade_id}
        if Fill.objects.filter(**same_trade).exists():
            return None
        try:
            with transaction.atomic():
                fill = Fill.objects.create(
                    venue=locked.venue,
                    exchange=locked.exchange,
                    exchange_trade_id=report.trade_id,
                    order=locked,
                    symbol=locked.symbol,
                    side=locked.side,
                    price=report.price,
                    amount=report.amount,
                    cost=q(report.cost if report.cost is not None else report.price * report.amount),
                    fee=report.fee,
                    fee_currency=report.fee_currency,
                    is_maker=report.is_maker,
                    executed_at=report.executed_at,
                )
        except IntegrityError:
            return None  # a concurrent caller recorded it first
        _order_aggregate_fills(locked)
        if locked.position_id is None:
            locked.position = _position_for(locked, report.executed_at)
        locked.save()
        audit_record(
            actor=actor,
            action="fill.apply",
            obj=locked,
            after={"trade_id": report.trade_id, "amount": str(report.amount), "price": str(report.price)},
        )
        transaction.on_commit(functools.partial(_count_fill, locked.side))
        if locked.position_id is not None:
            position_recompute(position_id=locked.position_id)
            _position_changed(position_id=locked.position_id, actor=actor)
    _advance_status_after_fill(locked, actor)
    return fill


def _count_fill(side: str) -> None:
    try:
        metrics.FILLS_RECORDED.labels(side=side).inc()
    except Exception:  # a metric must never break a fill
        log.debug("fill not counted", exc_info=True)


class PositionHook(Protocol):
    """Told of every change of a position's fills, inside the transaction that recorded the fill."""

    def __call__(self, *, position_id: int, actor: Actor) -> object: ...


_position_hooks: list[PositionHook] = []


def position_hook_register(hook: PositionHook) -> None:
    """Call `hook` after every fill that changed a position, in the fill's transaction (an error in it rolls
    the fill back). Registered at start-up by the layers above, e.g. the protective exits (apps.exits.apps)."""
    if hook not in _position_hooks:
        _position_hooks.append(hook)


def _position_changed(*, position_id: int, actor: Actor) -> None:
    """Every fill path (submission, refresh, reconciliation, paper) ends here, so protective exits are
    armed, re-priced or retired in the same transaction as the fill that changed the position."""
    for hook in _position_hooks:
        hook(position_id=position_id, actor=actor)


def _order_aggregate_fills(order: Order) -> None:
    """Order totals derived from its fills (never incremented, so replays cannot double them)."""
    filled = cost = Decimal(0)
    fees: dict[str, Decimal] = {}
    for amount, fill_cost, fee, fee_currency in order.fills.values_list("amount", "cost", "fee", "fee_currency"):
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


def _advance_status_after_fill(order: Order, actor: Actor) -> None:
    if order.status == OrderStatus.UNKNOWN or order.is_terminal:
        return  # unknown orders are resolved by reconciliation; terminal ones are done
    complete = order.amount is not None and order.filled >= order.amount
    target = OrderStatus.FILLED if complete else OrderStatus.PARTIALLY_FILLED
    if target == order.status:
        return
    try:
        order_transition(order_id=order.pk, to=target, actor=actor, reason="fill applied")
    except IllegalTransition:
        pass  # a concurrent caller already moved it further


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
    base, quote = position.base_currency, position.quote_currency
    amount = cost_basis = realized = fees_quote = Decimal(0)
    fees_other: dict[str, Decimal] = {}
    last_sell_at = None
    fills = Fill.objects.filter(order__position_id=position_id).order_by("executed_at", "id")
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
    position.save()
    return position
