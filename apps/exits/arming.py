"""Arming, re-pricing and retiring protective exits as their positions change (`exit_sync`), called by
every fill inside its transaction through the hook apps.exits.apps registers with apps.trading.services.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from apps.audit.actors import Actor
from apps.audit.services import audit_record
from apps.exits import notify
from apps.exits.levels import exit_levels
from apps.exits.models import ProtectiveExit
from apps.exits.transitions import exit_transition
from apps.trading.models import Fill, Position, Side

S = ProtectiveExit.Status
ACTIVE = (S.ARMED, S.TRIGGERED)
PLACES = Decimal("1e-16")
SAME_PRICE = Decimal("1e-12")


def exit_arm(
    *, position: Position, entry: Decimal, stop: Decimal, take: Decimal, now: datetime, actor: Actor
) -> ProtectiveExit:
    """The position's exit, armed at these levels (the one insert of an exit row; audited `exit.arm`)."""
    exit = ProtectiveExit.objects.create(
        position=position,
        symbol=position.symbol,
        entry_price=entry,
        stop_loss_price=stop,
        take_profit_price=take,
        armed_at=now,
    )
    audit_record(actor=actor, action="exit.arm", obj=exit, after=_snapshot(exit))
    return exit


def _snapshot(exit: ProtectiveExit) -> dict:
    return {
        "status": exit.status,
        "entry_price": str(exit.entry_price),
        "stop_loss_price": str(exit.stop_loss_price),
        "take_profit_price": str(exit.take_profit_price),
    }


def _closed_by_own_order(exit: ProtectiveExit, position_id: int) -> bool:
    """Did the sell that closed the position come from this exit (any attempt, or its exchange stop)?"""
    last = (
        Fill.objects.filter(order__position_id=position_id, side=Side.SELL)
        .order_by("-executed_at", "-id")
        .values_list("order_id", "order__intent")
        .first()
    )
    if last is None:
        return False
    order_id, intent = last
    return order_id == exit.exit_order_id or (intent or "").startswith(f"exit:{exit.pk}:")


def _average_fill_price(position_id: int) -> Decimal:
    """The actual average price the position's entries filled at (fees aside): what the levels are set from."""
    totals = Fill.objects.filter(order__position_id=position_id, side=Side.BUY).aggregate(
        cost=Sum("cost"), amount=Sum("amount")
    )
    if not totals["amount"]:
        return Decimal(0)
    return (totals["cost"] / totals["amount"]).quantize(PLACES)


def exit_sync(*, position_id: int, actor: Actor) -> ProtectiveExit | None:
    """Bring the position's exit in line with the position: arm at STOP_LOSS_PCT / TAKE_PROFIT_PCT from the
    actual average fill price of its entries, re-price an armed exit after more entry fills, and retire the exit
    when the position closes (filled by its own order, cancelled otherwise). Idempotent; no network."""
    with transaction.atomic():
        position = Position.objects.select_for_update().get(pk=position_id)
        active = ProtectiveExit.objects.select_for_update().filter(position_id=position_id, status__in=ACTIVE).first()
        now = timezone.now()
        if position.status == Position.Status.OPEN and position.amount > 0:
            entry = _average_fill_price(position_id)
            # (a tolerance, not ==: SQLite keeps about 15 significant digits of a decimal)
            unchanged = active is not None and abs(active.entry_price - entry) <= entry * SAME_PRICE
            if entry <= 0 or (active is not None and (active.status != S.ARMED or unchanged)):
                return active
            stop, take = exit_levels(position.symbol, entry)
            if active is None:
                return exit_arm(position=position, entry=entry, stop=stop, take=take, now=now, actor=actor)
            before = _snapshot(active)
            active.entry_price, active.stop_loss_price, active.take_profit_price = entry, stop, take
            exit_transition(
                exit_id=active.pk,
                actor=actor,
                action="reprice",
                when={"status": S.ARMED},
                before=before,
                after=_snapshot(active),
                entry_price=entry,
                stop_loss_price=stop,
                take_profit_price=take,
            )
            return active
        if active is None or position.status == Position.Status.OPEN:
            return active
        before, was = _snapshot(active), active.status
        if active.status == S.TRIGGERED and _closed_by_own_order(active, position_id):
            active.status, active.filled_at = S.FILLED, position.closed_at or now
            pnl = position.realized_pnl
            notify.alert(
                kind="exit_filled",
                key=f"exit-filled:{active.pk}",
                severity="info",
                text=f"Exit filled: {position.symbol} {active.get_trigger_reason_display()} #{active.pk}, "
                f"position #{position.pk} closed, realized PnL {pnl.normalize():f} {position.quote_currency} "
                f"after fees.",
            )
        else:
            active.status, active.cancelled_at = S.CANCELLED, now
        exit_transition(
            exit_id=active.pk,
            actor=actor,
            action=str(active.status),
            when={"status": was},
            before=before,
            after=_snapshot(active),
            status=active.status,
            filled_at=active.filled_at,
            cancelled_at=active.cancelled_at,
        )
        return active
