"""Recording what a run found. A problem still open from an earlier run is not recorded twice."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from apps.audit.services import audit_record
from apps.reconciliation.models import Discrepancy, ReconciliationRun
from apps.trading.models import Order

Kind = Discrepancy.Kind
Severity = Discrepancy.Severity


def flag(
    *,
    run: ReconciliationRun,
    symbol: str,
    kind: str,
    severity: str = Severity.WARNING,
    order: Order | None = None,
    exchange_order_id: str = "",
    details: dict[str, Any] | None = None,
    fixed: bool = False,
    now: datetime | None = None,
) -> Discrepancy | None:
    """Store one discrepancy. A fixed one is resolved at once; an open one already recorded (same kind, symbol
    and order) and still unresolved is not stored again: returns None then."""
    if not fixed:
        same = Discrepancy.objects.filter(kind=kind, symbol=symbol, resolved=False, run__venue=run.venue)
        if order is not None:
            same = same.filter(order=order)
        elif exchange_order_id:
            same = same.filter(exchange_order_id=exchange_order_id)
        if same.exists():
            return None
    return Discrepancy.objects.create(
        run=run,
        symbol=symbol,
        kind=kind,
        severity=severity,
        order=order,
        exchange_order_id=exchange_order_id or (order.exchange_order_id if order is not None else "") or "",
        details=details or {},
        fixed=fixed,
        resolved=fixed,
        resolved_at=(now or timezone.now()) if fixed else None,
    )


def resolve_for_order(*, order: Order, kinds: tuple[str, ...], now: datetime | None = None) -> int:
    """Close the open discrepancies of an order once reconciliation has put it right."""
    return Discrepancy.objects.filter(order=order, kind__in=kinds, resolved=False).update(
        resolved=True, resolved_at=now or timezone.now()
    )


def resolve_balance(*, symbol: str, now: datetime | None = None, venue: str | None = None) -> int:
    """Positions and balance agree again: the symbol's open balance discrepancies (of `venue`) are over."""
    open_ones = Discrepancy.objects.filter(symbol=symbol, kind=Kind.BALANCE, resolved=False)
    if venue:
        open_ones = open_ones.filter(run__venue=venue)
    return open_ones.update(resolved=True, resolved_at=now or timezone.now())


def discrepancies_mark_resolved(*, ids: list[int], actor: Any, now: datetime | None = None) -> int:
    """An operator has looked at these discrepancies: the unresolved ones are marked resolved (which lifts the
    block on new entries they put on their symbol), each audited with the operator. Returns how many."""

    now = now or timezone.now()
    count = 0
    with transaction.atomic():
        for item in Discrepancy.objects.select_for_update().filter(pk__in=ids, resolved=False):
            item.resolved, item.resolved_at = True, now
            item.save(update_fields=["resolved", "resolved_at"])
            audit_record(actor=actor, action="discrepancy.resolve", obj=item, after={"resolved": True})
            count += 1
    return count
