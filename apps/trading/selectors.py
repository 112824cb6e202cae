"""Reading orders, positions and PnL: the books of one venue (the mode's unless another is named)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django.db.models import Sum
from django.utils import timezone

from apps.trading.models import LIVE_STATUSES, Fill, Order, Position
from apps.trading.venues import current_venue


def positions(venue: str | None = None):
    """Every position of `venue` (default: the mode's): paper and live books never mix."""
    return Position.objects.filter(venue=venue or current_venue())


def positions_open(symbol: str | None = None, *, venue: str | None = None):
    qs = positions(venue).filter(status=Position.Status.OPEN)
    return qs.filter(symbol=symbol) if symbol else qs


def realized_pnl_since(since: datetime, symbol: str | None = None, *, venue: str | None = None) -> Decimal:
    """Realized PnL (quote, after fees) of the venue's positions closed since `since`."""
    qs = positions(venue).filter(status=Position.Status.CLOSED, closed_at__gte=since)
    if symbol:
        qs = qs.filter(symbol=symbol)
    return qs.aggregate(total=Sum("realized_pnl"))["total"] or Decimal(0)


def realized_pnl_today(symbol: str | None = None, *, venue: str | None = None) -> Decimal:
    start = timezone.now().replace(hour=0, minute=0, second=0, microsecond=0)
    return realized_pnl_since(start, symbol, venue=venue)


@dataclass(frozen=True)
class PnlSummary:
    """The statistics behind /api/pnl and Telegram /profit. Money in quote currency, Decimal."""

    symbol: str | None
    realized_pnl: Decimal
    unrealized_pnl: Decimal
    fees: Decimal
    closed_positions: int
    open_positions: int
    wins: int
    losses: int
    win_rate: Decimal | None  # percent
    profit_factor: Decimal | None
    average_win: Decimal | None
    average_loss: Decimal | None
    best: Decimal | None
    worst: Decimal | None
    max_drawdown: Decimal  # quote, from the realized equity curve's peak
    equity_curve: list[tuple[datetime, Decimal]] = field(default_factory=list)  # cumulative realized PnL


def pnl_summary(
    *, symbol: str | None = None, prices: dict[str, Decimal] | None = None, venue: str | None = None
) -> PnlSummary:
    """Realized statistics from the venue's closed positions; unrealized from its open ones at `prices`
    (symbol → last)."""
    closed = positions(venue).filter(status=Position.Status.CLOSED).order_by("closed_at", "id")
    opened = positions(venue).filter(status=Position.Status.OPEN)
    if symbol:
        closed, opened = closed.filter(symbol=symbol), opened.filter(symbol=symbol)
    results = list(closed.values_list("closed_at", "realized_pnl", "fees_quote"))
    pnls = [pnl for _, pnl, _ in results]
    wins = [p for p in pnls if p > 0]
    losses = [p for p in pnls if p <= 0]
    curve: list[tuple[datetime, Decimal]] = []
    equity = peak = max_dd = Decimal(0)
    for closed_at, pnl, _ in results:
        equity += pnl
        peak = max(peak, equity)
        max_dd = max(max_dd, peak - equity)
        curve.append((closed_at, equity))
    unrealized = Decimal(0)
    for position in opened:
        last = (prices or {}).get(position.symbol)
        if last is not None and position.amount > 0:
            unrealized += position.amount * last - position.cost_basis
    gross_loss = -sum(losses, Decimal(0))
    hundred = Decimal(100)
    return PnlSummary(
        symbol=symbol,
        realized_pnl=sum(pnls, Decimal(0)),
        unrealized_pnl=unrealized.quantize(Decimal("1e-8")),
        fees=sum((fee for _, _, fee in results), Decimal(0)),
        closed_positions=len(pnls),
        open_positions=opened.count(),
        wins=len(wins),
        losses=len(losses),
        win_rate=(hundred * len(wins) / len(pnls)).quantize(Decimal("0.01")) if pnls else None,
        profit_factor=(sum(wins, Decimal(0)) / gross_loss).quantize(Decimal("0.0001")) if gross_loss else None,
        average_win=(sum(wins, Decimal(0)) / len(wins)) if wins else None,
        average_loss=(sum(losses, Decimal(0)) / len(losses)) if losses else None,
        best=max(pnls) if pnls else None,
        worst=min(pnls) if pnls else None,
        max_drawdown=max_dd,
        equity_curve=curve,
    )


def orders_of(symbol: str | None = None, *, venue: str | None = None):
    """The venue's orders (default: the mode's), newest first."""

    qs = Order.objects.filter(venue=venue or current_venue()).order_by("-created_at", "-id")
    return qs.filter(symbol=symbol) if symbol else qs


def orders_open(symbol: str | None = None, *, venue: str | None = None):
    """The venue's orders still live on the exchange (submitted, open, partially filled, unknown), newest first."""

    return orders_of(symbol, venue=venue).filter(status__in=LIVE_STATUSES)


def realized_pnl_by_day(
    *, days: int, now: datetime | None = None, venue: str | None = None
) -> list[tuple[datetime, Decimal]]:
    """Realized PnL (quote, after fees) per UTC day for the last `days` days, oldest first, zero days included."""
    now = now or timezone.now()
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    start = today - timedelta(days=days - 1)
    totals: dict[datetime, Decimal] = {start + timedelta(days=i): Decimal(0) for i in range(days)}
    rows = (
        positions(venue)
        .filter(status=Position.Status.CLOSED, closed_at__gte=start)
        .values_list("closed_at", "realized_pnl")
    )
    for closed_at, pnl in rows:
        day = closed_at.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        if day in totals:
            totals[day] += pnl
    return sorted(totals.items())


def fills_between(symbol: str, since: datetime, until: datetime | None = None, *, venue: str | None = None):
    """The venue's fills of a symbol (with their order) in a window, oldest first: entries and exits on a chart."""

    qs = Fill.objects.filter(venue=venue or current_venue(), symbol=symbol, executed_at__gte=since)
    qs = qs.select_related("order")
    if until is not None:
        qs = qs.filter(executed_at__lte=until)
    return qs.order_by("executed_at", "id")
