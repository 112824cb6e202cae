"""Positions against balances: the base currency held on the exchange against our open positions."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from django.db.models import Min

from apps.exchange.broker import Broker, ExchangeError
from apps.exchange.types import Balance
from apps.reconciliation.discrepancies import Kind, Severity, flag, resolve_balance
from apps.reconciliation.healing import Context, Outcome
from apps.reconciliation.models import Discrepancy
from apps.trading.models import Fill, Position
from apps.trading.services import DUST_QUOTE_VALUE, position_recompute


def _reference_price(symbol: str, positions: list[Position], venue: str) -> Decimal | None:
    for position in positions:
        if position.average_entry_price:
            return position.average_entry_price
    return (
        Fill.objects.filter(venue=venue, symbol=symbol).order_by("-executed_at").values_list("price", flat=True).first()
    )


def _tolerance(broker: Broker, symbol: str, price: Decimal | None) -> Decimal:
    """Dust: what is worth less than DUST_QUOTE_VALUE, and never less than the market's smallest amount."""
    try:
        step = broker.market(symbol).min_amount
    except (ExchangeError, AttributeError, KeyError):
        step = Decimal(0)
    dust = DUST_QUOTE_VALUE / price if price else Decimal(0)
    return max(step, dust)


def check_balance(
    ctx: Context, broker: Broker, symbol: str, balances: dict[str, Balance]
) -> tuple[Outcome, Decimal, float]:
    """Recompute the symbol's open positions from their fills and compare with the base balance.
    Returns the outcome, the difference (exchange minus ours, base units) and the drift age in seconds."""
    outcome = Outcome()
    venue = ctx.run.venue  # the balance of the broker's account against the positions of its books only
    base = symbol.split("/")[0]
    positions = [
        position_recompute(position_id=pk)
        for pk in Position.objects.filter(venue=venue, symbol=symbol, status=Position.Status.OPEN).values_list(
            "pk", flat=True
        )
    ]
    positions = [p for p in positions if p.status == Position.Status.OPEN]
    ours = sum((p.amount for p in positions), Decimal(0))
    held = balances[base].total if base in balances else Decimal(0)
    difference = held - ours
    tolerance = _tolerance(broker, symbol, _reference_price(symbol, positions, venue))
    if abs(difference) <= tolerance:
        resolve_balance(symbol=symbol, now=ctx.now, venue=venue)
        return outcome, difference, 0.0
    details = {
        "currency": base,
        "exchange_total": str(held),
        "positions": str(ours),
        "difference": str(difference),
        "tolerance": str(tolerance),
        "note": "the exchange holds less than our positions" if difference < 0 else "the exchange holds more",
    }
    severity = Severity.CRITICAL if difference < 0 else Severity.WARNING
    outcome.add(flag(run=ctx.run, symbol=symbol, kind=Kind.BALANCE, severity=severity, details=details, now=ctx.now))
    return outcome, difference, _drift_seconds(symbol, ctx.now, venue)


def _drift_seconds(symbol: str, now: datetime, venue: str) -> float:
    """How long positions and balance have disagreed: since the oldest open balance discrepancy."""
    open_ones = Discrepancy.objects.filter(symbol=symbol, kind=Kind.BALANCE, resolved=False, run__venue=venue)
    since = open_ones.aggregate(first=Min("created_at"))["first"]
    return max((now - since).total_seconds(), 0.0) if since else 0.0
