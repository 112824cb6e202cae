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
from apps.audit.services import audit_entry, audit_record_many
from apps.exits import notify
from apps.exits.levels import exit_levels
from apps.exits.models import ProtectiveExit
from apps.exits.transitions import exit_transitions_many
from apps.trading.models import Fill, Position, Side

S = ProtectiveExit.Status
ACTIVE = (S.ARMED, S.TRIGGERED)
PLACES = Decimal("1e-16")
SAME_PRICE = Decimal("1e-12")


def exit_arm(
    *, position: Position, entry: Decimal, stop: Decimal, take: Decimal, now: datetime, actor: Actor
) -> ProtectiveExit:
    """The position's exit, armed at these levels (audited `exit.arm`)."""
    exit = ProtectiveExit(
        position=position,
        symbol=position.symbol,
        entry_price=entry,
        stop_loss_price=stop,
        take_profit_price=take,
        armed_at=now,
    )
    return exits_arm_many(exits=[exit], actor=actor)[0]


def exits_arm_many(*, exits: list[ProtectiveExit], actor: Actor) -> list[ProtectiveExit]:
    """The one insert of exit rows: armed, each audited `exit.arm` (one INSERT of the exits, one of the audit rows)."""
    with transaction.atomic(savepoint=False):
        armed = ProtectiveExit.objects.bulk_create(exits)
        audit_record_many([audit_entry(actor=actor, action="exit.arm", obj=e, after=_snapshot(e)) for e in armed])
    return armed


def _snapshot(exit: ProtectiveExit) -> dict:
    return {
        "status": exit.status,
        "entry_price": str(exit.entry_price),
        "stop_loss_price": str(exit.stop_loss_price),
        "take_profit_price": str(exit.take_profit_price),
    }


def _closed_by_own_order(exit: ProtectiveExit, position_id: int, fills: list[Fill] | None = None) -> bool:
    """Did the sell that closed the position come from this exit (any attempt, or its exchange stop)?
    `fills`: the position's, oldest first, when the caller has them."""
    sells = [f for f in fills or () if f.side == Side.SELL]
    if sells and sells[-1].order_id == exit.exit_order_id:
        return True
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


def _average_of(fills: list[Fill]) -> Decimal:
    """_average_fill_price from the position's fills already read."""
    cost = sum((f.cost for f in fills if f.side == Side.BUY), Decimal(0))
    amount = sum((f.amount for f in fills if f.side == Side.BUY), Decimal(0))
    return (cost / amount).quantize(PLACES) if amount else Decimal(0)


def exit_sync(
    *, position_id: int, actor: Actor, position: Position | None = None, fills: list[Fill] | None = None
) -> ProtectiveExit | None:
    """Bring the position's exit in line with the position: arm at STOP_LOSS_PCT / TAKE_PROFIT_PCT from the
    actual average fill price of its entries, re-price an armed exit after more entry fills, and retire the exit
    when the position closes (filled by its own order, cancelled otherwise). Idempotent; no network.
    `position` (locked by the caller, in its transaction) and its `fills` (oldest first), when at hand."""
    with transaction.atomic():
        if position is None or position.pk != position_id:
            position, fills = Position.objects.select_for_update().get(pk=position_id), None
        if fills is None:
            fills = list(Fill.objects.filter(order__position_id=position_id).order_by("executed_at", "id"))
        return exit_sync_many(changes=[(position, fills)], actor=actor)[0]


def exit_sync_many(*, changes: list[tuple[Position, list[Fill]]], actor: Actor) -> list[ProtectiveExit | None]:
    """exit_sync for many positions at once, each locked by the caller and given with its fills (oldest
    first): what every fill tells the exits (the position hook apps.exits.apps registers). One statement
    reads (and locks) their active exits, one arms the new ones, one updates the others, one audits each kind."""
    out: list[ProtectiveExit | None] = []
    arm: list[ProtectiveExit] = []
    moved: list[tuple[ProtectiveExit, str, dict, dict, list[str]]] = []
    with transaction.atomic(savepoint=False):
        ids = [position.pk for position, _ in changes]
        active = {
            e.position_id: e
            for e in ProtectiveExit.objects.select_for_update()
            .filter(position_id__in=ids, status__in=ACTIVE)
            .order_by("pk")
        }
        now = timezone.now()
        for position, fills in changes:
            exit = active.get(position.pk)
            out.append(exit)
            if position.status == Position.Status.OPEN and position.amount > 0:
                entry = _average_of(fills)
                # (a tolerance, not ==: SQLite keeps about 15 significant digits of a decimal)
                unchanged = exit is not None and abs(exit.entry_price - entry) <= entry * SAME_PRICE
                if entry <= 0 or (exit is not None and (exit.status != S.ARMED or unchanged)):
                    continue
                stop, take = exit_levels(position.symbol, entry)
                if exit is None:
                    out[-1] = created = ProtectiveExit(
                        position=position,
                        symbol=position.symbol,
                        entry_price=entry,
                        stop_loss_price=stop,
                        take_profit_price=take,
                        armed_at=now,
                    )
                    arm.append(created)
                    continue
                before = _snapshot(exit)
                exit.entry_price, exit.stop_loss_price, exit.take_profit_price = entry, stop, take
                fields = ["entry_price", "stop_loss_price", "take_profit_price"]
                moved.append((exit, "reprice", before, _snapshot(exit), fields))
                continue
            if exit is None or position.status == Position.Status.OPEN:
                continue
            before = _snapshot(exit)
            if exit.status == S.TRIGGERED and _closed_by_own_order(exit, position.pk, fills):
                exit.status, exit.filled_at = S.FILLED, position.closed_at or now
                pnl = position.realized_pnl
                notify.alert(
                    kind="exit_filled",
                    key=f"exit-filled:{exit.pk}",
                    severity="info",
                    text=f"Exit filled: {position.symbol} {exit.get_trigger_reason_display()} #{exit.pk}, "
                    f"position #{position.pk} closed, realized PnL {pnl.normalize():f} {position.quote_currency} "
                    f"after fees.",
                )
            else:
                exit.status, exit.cancelled_at = S.CANCELLED, now
            moved.append((exit, str(exit.status), before, _snapshot(exit), ["status", "filled_at", "cancelled_at"]))
        if arm:
            exits_arm_many(exits=arm, actor=actor)
        if moved:
            exit_transitions_many(moved=moved, actor=actor)
    return out
