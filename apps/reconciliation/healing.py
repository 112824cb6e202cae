"""Applying what reconciliation found, one order per transaction, only through the trading services.

Each function locks the order row, checks again against what it now holds (another worker may have put it
right meanwhile: then it does nothing), applies trades with `fill_apply` (idempotent per trade id) and status
changes with `order_transition(..., by_reconciliation=True)`, and records the discrepancy in the same
transaction. An error rolls back that order's correction only.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction

from apps.audit.actors import Actor
from apps.exchange.gateio import CLIENT_ID_RE
from apps.exchange.types import ExchangeOrder, ExchangeTrade
from apps.reconciliation.discrepancies import Kind, Severity, flag, resolve_for_order
from apps.reconciliation.matching import fee_differs, needs_work, status_differs
from apps.reconciliation.models import Discrepancy, ReconciliationRun
from apps.trading.models import LIVE_STATUSES, Fill, Order, OrderStatus, OrderType, Origin, Side
from apps.trading.services import (
    FillReport,
    OrderInputError,
    fill_apply,
    order_create,
    order_set_exchange_id,
    order_transition,
)
from apps.trading.state import is_allowed

log = logging.getLogger(__name__)


@dataclass
class Context:
    run: ReconciliationRun
    actor: Actor
    now: datetime


@dataclass
class Outcome:
    fixed: int = 0
    imported: int = 0
    missing: int = 0
    repeated: int = 0  # problems already recorded by an earlier run and still open
    found: list[Discrepancy] = field(default_factory=list)

    def add(self, item: Discrepancy | None) -> None:
        """`flag` returns None only for a problem already on record."""
        if item is None:
            self.repeated += 1
        else:
            self.found.append(item)


def _exchange_facts(ex: ExchangeOrder) -> dict[str, Any]:
    return {
        "exchange_status": ex.status,
        "finish_as": ex.finish_as,
        "exchange_filled": str(ex.filled),
        "exchange_fee": None if ex.fee is None else str(ex.fee),
        "exchange_fee_currency": ex.fee_currency,
        "text": ex.client_order_id,
    }


def _report(trade: ExchangeTrade) -> FillReport:
    return FillReport.from_trade(trade)


def _apply_trades(order: Order, trades: list[ExchangeTrade], actor: Actor) -> tuple[list[str], list[dict]]:
    """Missing trades through fill_apply; returns (trade ids applied, fee differences of recorded trades)."""
    recorded = {
        trade_id: (fee, currency)
        for trade_id, fee, currency in Fill.objects.filter(
            venue=order.venue, exchange=order.exchange, exchange_trade_id__in=[t.trade_id for t in trades]
        ).values_list("exchange_trade_id", "fee", "fee_currency")
    }
    applied: list[str] = []
    fee_diffs: list[dict] = []
    for trade in trades:
        if trade.trade_id in recorded:
            fee, currency = recorded[trade.trade_id]
            if fee != trade.fee or currency != trade.fee_currency:
                fee_diffs.append(
                    {
                        "trade_id": trade.trade_id,
                        "ours": f"{fee} {currency}",
                        "exchange": f"{trade.fee} {trade.fee_currency}",
                    }
                )
            continue
        if fill_apply(order=order, report=_report(trade), actor=actor) is not None:
            applied.append(trade.trade_id)
    return applied, fee_diffs


def _move(order: Order, target: str, ctx: Context, reason: str) -> bool:
    """One by_reconciliation transition when the state machine allows it."""
    if order.status == target or not is_allowed(order.status, target, by_reconciliation=True):
        return False
    order_transition(
        order_id=order.pk,
        to=target,
        actor=ctx.actor,
        by_reconciliation=True,
        reason=reason,
        last_exchange_update_at=ctx.now,
    )
    return True


def heal_matched(ctx: Context, order_id: int, ex: ExchangeOrder, trades: list[ExchangeTrade] | None) -> Outcome:
    """Bring one of our orders in line with the exchange's copy: exchange id, fills and fees, status."""
    outcome = Outcome()
    with transaction.atomic():
        order = Order.objects.select_for_update().get(pk=order_id)
        if not needs_work(order, ex):
            return outcome  # already right (a concurrent run, or the order's own refresh, got there first)
        before = {"status": order.status, "filled": str(order.filled), "exchange_order_id": order.exchange_order_id}
        was_unknown = order.status == OrderStatus.UNKNOWN
        if order.exchange_order_id and order.exchange_order_id != ex.exchange_order_id:
            return outcome  # matching never pairs these; a changed row is left for the next run
        if not order.exchange_order_id:
            order = order_set_exchange_id(order=order, exchange_order_id=ex.exchange_order_id)
        if order.status == OrderStatus.NEW:  # sent, then the process died before recording it
            _move(order, OrderStatus.SUBMITTED, ctx, "reconciliation: the exchange has it")
        applied, fee_diffs = _apply_trades(order, trades, ctx.actor) if trades else ([], [])
        order.refresh_from_db()
        moved = False
        if status_differs(order, ex):
            moved = _move(order, ex.status, ctx, f"reconciliation: the exchange says {ex.status}")
            order.refresh_from_db()
        after = {"status": order.status, "filled": str(order.filled), "exchange_order_id": order.exchange_order_id}
        details = {"before": before, "after": after, "trades_applied": applied, **_exchange_facts(ex)}
        changed = after != before
        if changed:
            outcome.fixed = 1
            if was_unknown:
                kind, severity = Kind.UNKNOWN_RESOLVED, Severity.INFO
            elif applied:
                kind, severity = Kind.FILL, Severity.WARNING
            else:
                kind, severity = Kind.STATUS, Severity.WARNING if moved else Severity.INFO
            outcome.add(
                flag(
                    run=ctx.run,
                    symbol=order.symbol,
                    kind=kind,
                    severity=severity,
                    order=order,
                    details=details,
                    fixed=True,
                    now=ctx.now,
                )
            )
            resolve_for_order(order=order, kinds=(Kind.MISSING_ON_EXCHANGE, Kind.STATUS), now=ctx.now)
        if fee_diffs or (fee_differs(order, ex) and order.filled == ex.filled):
            outcome.add(
                flag(
                    run=ctx.run,
                    symbol=order.symbol,
                    kind=Kind.FEE,
                    order=order,
                    now=ctx.now,
                    details={"trades": fee_diffs, **_exchange_facts(ex), "ours": order.fees},
                )
            )
        if status_differs(order, ex):
            # The state machine cannot follow (e.g. ours ended, theirs still open): a person must look.
            severity = Severity.CRITICAL if ex.status in LIVE_STATUSES else Severity.WARNING
            outcome.add(
                flag(
                    run=ctx.run,
                    symbol=order.symbol,
                    kind=Kind.STATUS,
                    severity=severity,
                    order=order,
                    details={**details, "note": f"cannot move {order.status} to {ex.status}"},
                    now=ctx.now,
                )
            )
        elif order.filled != ex.filled:
            severity = Severity.CRITICAL if order.filled > ex.filled else Severity.WARNING
            outcome.add(
                flag(
                    run=ctx.run,
                    symbol=order.symbol,
                    kind=Kind.FILL,
                    severity=severity,
                    order=order,
                    details={**details, "note": "filled amounts still differ"},
                    now=ctx.now,
                )
            )
    return outcome


def _import_params(ex: ExchangeOrder) -> dict[str, Any]:
    params: dict[str, Any] = {"symbol": ex.symbol, "side": ex.side, "type": ex.type}
    if ex.type == OrderType.MARKET and ex.side == Side.BUY and ex.quote_amount:
        params["quote_amount"] = ex.quote_amount
    else:
        params["amount"] = ex.amount or ex.filled
    if ex.type == OrderType.LIMIT:
        params["price"] = ex.price
    return params


def _import_client_id(ex: ExchangeOrder) -> dict[str, Any]:
    """The exchange's own `t-` text when it is a valid one nobody else of ours carries; otherwise no client id
    at all: a made-up id of ours would claim the order was ours (and could collide with one we send later)."""
    text = ex.client_order_id
    if text and CLIENT_ID_RE.match(text) and not Order.objects.filter(client_order_id=text).exists():
        return {"client_order_id": text}
    return {"without_client_id": True}


def import_external(ctx: Context, ex: ExchangeOrder, trades: list[ExchangeTrade], *, note: str = "") -> Outcome:
    """An order the bot did not place (or does not remember): record it as `external`, with its fills, and
    flag it. Idempotent: the import's intent is the exchange id, so two runs cannot import it twice."""
    outcome = Outcome()
    intent = f"reconcile:import:gateio:{ex.exchange_order_id}"
    details = {**_exchange_facts(ex), "note": note or "placed outside the bot"}
    try:
        with transaction.atomic():
            if Order.objects.filter(venue=ctx.run.venue, exchange_order_id=ex.exchange_order_id).exists():
                return outcome
            order = order_create(
                actor=ctx.actor,
                origin=Origin.EXTERNAL,
                intent=intent,
                venue=ctx.run.venue,
                **_import_client_id(ex),
                **_import_params(ex),
            )
            order = order_set_exchange_id(order=order, exchange_order_id=ex.exchange_order_id)
            _move(order, OrderStatus.SUBMITTED, ctx, "reconciliation: imported from the exchange")
            applied, _ = _apply_trades(order, trades, ctx.actor)
            order.refresh_from_db()
            _move(order, ex.status, ctx, f"reconciliation: imported, the exchange says {ex.status}")
            details["trades_applied"] = applied
            severity = Severity.CRITICAL if note else Severity.WARNING
            outcome.imported = 1
            outcome.add(
                flag(
                    run=ctx.run,
                    symbol=ex.symbol,
                    kind=Kind.EXTERNAL,
                    severity=severity,
                    order=order,
                    exchange_order_id=ex.exchange_order_id,
                    details=details,
                    now=ctx.now,
                )
            )
    except IntegrityError:
        log.info("order %s was imported by a concurrent run", ex.exchange_order_id)
        return Outcome()
    except OrderInputError as exc:
        details["error"] = str(exc)
        outcome.add(
            flag(
                run=ctx.run,
                symbol=ex.symbol,
                kind=Kind.EXTERNAL,
                severity=Severity.CRITICAL,
                exchange_order_id=ex.exchange_order_id,
                details=details,
                now=ctx.now,
            )
        )
    return outcome


def resolve_absent(ctx: Context, order_id: int, seen_updated_at: datetime) -> Outcome:
    """One of our live orders that neither the open nor the finished orders list: without an exchange id it
    never reached the exchange (rejected); with one and nothing filled it was cancelled and Gate.io has since
    forgotten it (cancelled); with fills it should still be listed, so it is flagged for a person."""
    outcome = Outcome()
    with transaction.atomic():
        order = Order.objects.select_for_update().get(pk=order_id)
        if order.status not in LIVE_STATUSES or order.updated_at != seen_updated_at:
            return outcome  # changed since we read it: the next run looks again
        before = {"status": order.status, "filled": str(order.filled), "exchange_order_id": order.exchange_order_id}
        was_unknown = order.status == OrderStatus.UNKNOWN
        if not order.exchange_order_id:
            target, note = OrderStatus.REJECTED, "not in any exchange list: it never reached the exchange"
        elif order.filled == 0:
            target, note = OrderStatus.CANCELLED, "not in any exchange list: cancelled with nothing filled, forgotten"
        else:
            outcome.missing = 1
            outcome.add(
                flag(
                    run=ctx.run,
                    symbol=order.symbol,
                    kind=Kind.MISSING_ON_EXCHANGE,
                    severity=Severity.CRITICAL,
                    order=order,
                    now=ctx.now,
                    details={"before": before, "note": "partly filled, yet absent from every list"},
                )
            )
            return outcome
        _move(order, target, ctx, f"reconciliation: {note}")
        order.refresh_from_db()
        outcome.fixed = 1
        kind = Kind.UNKNOWN_RESOLVED if was_unknown else Kind.STATUS
        details = {"before": before, "after": {"status": order.status}, "note": note}
        outcome.add(
            flag(
                run=ctx.run,
                symbol=order.symbol,
                kind=kind,
                severity=Severity.INFO,
                order=order,
                details=details,
                fixed=True,
                now=ctx.now,
            )
        )
    return outcome


def flag_missing_terminal(ctx: Context, order_id: int) -> Outcome:
    """A finished order of ours with fills, inside the window, that the exchange's finished list lacks."""
    order = Order.objects.get(pk=order_id)
    outcome = Outcome(missing=1)
    details = {"status": order.status, "filled": str(order.filled), "note": "filled, yet not in the finished list"}
    outcome.add(
        flag(
            run=ctx.run,
            symbol=order.symbol,
            kind=Kind.MISSING_ON_EXCHANGE,
            severity=Severity.WARNING,
            order=order,
            details=details,
            now=ctx.now,
        )
    )
    return outcome
