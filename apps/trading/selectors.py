"""Reading orders, positions and PnL."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from django.db.models import Sum
from django.utils import timezone

from apps.trading.models import Position


def positions_open(symbol: str | None = None):
    qs = Position.objects.filter(status=Position.Status.OPEN)
    return qs.filter(symbol=symbol) if symbol else qs


def realized_pnl_since(since: datetime, symbol: str | None = None) -> Decimal:
    """Realized PnL (quote, after fees) of positions closed since `since`."""
    qs = Position.objects.filter(status=Position.Status.CLOSED, closed_at__gte=since)
    if symbol:
        qs = qs.filter(symbol=symbol)
    return qs.aggregate(total=Sum("realized_pnl"))["total"] or Decimal(0)


def realized_pnl_today(symbol: str | None = None) -> Decimal:
    start = timezone.now().replace(hour=0, minute=0, second=0, microsecond=0)
    return realized_pnl_since(start, symbol)
