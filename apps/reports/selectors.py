"""The operator's reports, one set of selectors shown by the API, Telegram and the admin.

Balances per currency with their quote value, realized PnL per day / week / month in a chosen time zone,
performance per pair / entry rule / exit reason, and closed trades. Realized PnL is the one the trading core
derives from fills (`Position.realized_pnl`, quote currency, after fees); nothing here recomputes it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.db.models import QuerySet, Sum
from django.utils import timezone

from apps.exchange.broker import Broker, ExchangeError
from apps.trading.models import Fill, Order, Position, Side
from apps.trading.selectors import positions, positions_open

log = logging.getLogger(__name__)

PERIODS = ("day", "week", "month")
PERFORMANCE_KEYS = ("pair", "entry_rule", "exit_reason")
COUNT_MAX = 366
HUNDRED = Decimal(100)


class ReportInputError(ValueError):
    """A report was asked with a bad argument; the message says which and why."""


def zone_parse(name: str | None) -> ZoneInfo:
    """An IANA time zone (`Europe/Berlin`); UTC when not given."""
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError, OSError):  # "America" is a directory
        raise ReportInputError(f"unknown time zone {name!r} (use an IANA name such as Europe/Berlin)") from None


# --- balances --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BalanceRow:
    currency: str
    free: Decimal
    used: Decimal
    total: Decimal
    price: Decimal | None  # in the quote currency; 1 for the quote itself, None when no market prices it
    quote_value: Decimal | None


@dataclass(frozen=True)
class BalancesReport:
    source: str  # "paper account" or "exchange"
    quote: str
    rows: list[BalanceRow]
    total_quote: Decimal  # sum of the priced rows
    unpriced: list[str]


def _quote_default() -> str:
    return settings.SYMBOLS[0].split("/")[1]


def balances_report(*, broker: Broker, quote: str | None = None) -> BalancesReport:
    """Every non-zero balance the broker holds (the paper account in paper, the exchange's in live), valued in
    `quote` at the last price of its CUR/QUOTE market when that market is traded. Raises ExchangeError when
    the balances cannot be read."""
    quote = (quote or _quote_default()).upper()
    balances = {c: b for c, b in broker.fetch_balance().items() if b.total != 0}
    markets = {*settings.SYMBOLS, *positions_open().values_list("symbol", flat=True)}
    wanted = sorted(f"{c}/{quote}" for c in balances if c != quote and f"{c}/{quote}" in markets)
    prices: dict[str, Decimal] = {}
    if wanted:
        try:
            prices = {s: t.last for s, t in broker.fetch_tickers(wanted).items() if t.last is not None}
        except ExchangeError as exc:
            log.warning("balances: tickers unavailable, balances left unpriced: %s", exc)
    rows: list[BalanceRow] = []
    for currency in sorted(balances, key=lambda c: (c != quote, c)):
        b = balances[currency]
        price = Decimal(1) if currency == quote else prices.get(f"{currency}/{quote}")
        rows.append(BalanceRow(currency, b.free, b.used, b.total, price, None if price is None else b.total * price))
    return BalancesReport(
        source="paper account" if settings.MODE == "paper" else "exchange",
        quote=quote,
        rows=rows,
        total_quote=sum((r.quote_value for r in rows if r.quote_value is not None), Decimal(0)),
        unpriced=[r.currency for r in rows if r.quote_value is None],
    )


# --- realized PnL per period -----------------------------------------------------------------------


@dataclass(frozen=True)
class PeriodPnl:
    start: date  # first local day of the period
    starts_at: datetime  # its first instant, in the chosen zone
    realized_pnl: Decimal
    trades: int
    wins: int


def _period_key(day: date, period: str) -> date:
    if period == "day":
        return day
    if period == "week":
        return day - timedelta(days=day.weekday())  # ISO weeks start on Monday
    return day.replace(day=1)


def _period_back(start: date, period: str, n: int) -> date:
    if period == "day":
        return start - timedelta(days=n)
    if period == "week":
        return start - timedelta(weeks=n)
    months = start.year * 12 + start.month - 1 - n
    return date(months // 12, months % 12 + 1, 1)


def pnl_by_period(
    *, period: str, count: int, tz: str | None = None, now: datetime | None = None, venue: str | None = None
) -> list[PeriodPnl]:
    """Realized PnL of the positions closed in each of the last `count` periods (day, ISO week from Monday,
    month) in time zone `tz` (default UTC), oldest first, empty periods included."""
    if period not in PERIODS:
        raise ReportInputError(f"period must be one of {', '.join(PERIODS)}")
    if not 1 <= count <= COUNT_MAX:
        raise ReportInputError(f"count must be a whole number from 1 to {COUNT_MAX}")
    zone = zone_parse(tz)
    local_today = (now or timezone.now()).astimezone(zone).date()
    current = _period_key(local_today, period)
    starts = [_period_back(current, period, n) for n in range(count - 1, -1, -1)]
    first_instant = datetime(starts[0].year, starts[0].month, starts[0].day, tzinfo=zone)
    totals: dict[date, list[Any]] = {s: [Decimal(0), 0, 0] for s in starts}  # PnL, trades, winners
    rows = (
        positions(venue)
        .filter(status=Position.Status.CLOSED, closed_at__gte=first_instant)
        .values_list("closed_at", "realized_pnl")
    )
    for closed_at, pnl in rows:
        key = _period_key(closed_at.astimezone(zone).date(), period)
        if key in totals:
            bucket = totals[key]
            bucket[0] += pnl
            bucket[1] += 1
            bucket[2] += 1 if pnl > 0 else 0
    return [
        PeriodPnl(s, datetime(s.year, s.month, s.day, tzinfo=zone), totals[s][0], totals[s][1], totals[s][2])
        for s in starts
    ]


# --- closed trades ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class TradeRow:
    """One closed position as a trade: what was bought, what was sold, and the PnL after fees."""

    position_id: int
    symbol: str
    opened_at: datetime
    closed_at: datetime | None
    amount: Decimal  # base bought
    entry_price: Decimal | None  # average buy fill price
    exit_price: Decimal | None  # average sell fill price
    cost: Decimal  # quote paid for the buys
    proceeds: Decimal  # quote received for the sells
    fees_quote: Decimal
    realized_pnl: Decimal
    entry_rule: str
    exit_reason: str


def positions_closed(*, symbol: str | None = None, venue: str | None = None) -> QuerySet[Position]:
    """The venue's (default: the mode's) closed positions, newest close first."""
    qs = positions(venue).filter(status=Position.Status.CLOSED).order_by("-closed_at", "-id")
    return qs.filter(symbol=symbol) if symbol else qs


def _entry_rule(origin: str, rule: str | None) -> str:
    if origin == "signal":
        return rule or "signal"
    return origin  # operator, protective_exit (never an entry), external


def trade_rows(positions: Sequence[Position]) -> list[TradeRow]:
    """`TradeRow`s for these positions, in their order, in four queries whatever their number."""
    from apps.exits.models import ProtectiveExit  # exits sits beside trading; reports read both

    ids = [p.pk for p in positions]
    sums: dict[tuple[int, str], tuple[Decimal, Decimal]] = {}
    for pid, side, amount, cost in (
        Fill.objects.filter(order__position_id__in=ids)
        .values_list("order__position_id", "side")
        .annotate(amount=Sum("amount"), cost=Sum("cost"))
        .order_by()
    ):
        sums[(pid, side)] = (amount, cost)
    entries: dict[int, str] = {}
    for pid, origin, rule in (
        Order.objects.filter(position_id__in=ids, side=Side.BUY, filled__gt=0)
        .order_by("created_at", "id")
        .values_list("position_id", "origin", "decision__rule")
    ):
        entries.setdefault(pid, _entry_rule(origin, rule))
    exits: dict[int, str] = {}
    for pid, origin in (
        Order.objects.filter(position_id__in=ids, side=Side.SELL, filled__gt=0)
        .order_by("created_at", "id")
        .values_list("position_id", "origin")
    ):
        exits[pid] = "signal" if origin == "signal" else origin  # the last sell decides
    for pid, reason in (
        ProtectiveExit.objects.filter(position_id__in=ids, status=ProtectiveExit.Status.FILLED)
        .order_by("filled_at", "id")
        .values_list("position_id", "trigger_reason")
    ):
        if reason:
            exits[pid] = reason
    rows = []
    for p in positions:
        bought, cost = sums.get((p.pk, Side.BUY), (Decimal(0), Decimal(0)))
        sold, proceeds = sums.get((p.pk, Side.SELL), (Decimal(0), Decimal(0)))
        rows.append(
            TradeRow(
                position_id=p.pk,
                symbol=p.symbol,
                opened_at=p.opened_at,
                closed_at=p.closed_at,
                amount=bought,
                entry_price=(cost / bought).quantize(Decimal("1e-8")) if bought else None,
                exit_price=(proceeds / sold).quantize(Decimal("1e-8")) if sold else None,
                cost=cost,
                proceeds=proceeds,
                fees_quote=p.fees_quote,
                realized_pnl=p.realized_pnl,
                entry_rule=entries.get(p.pk, "unknown"),
                exit_reason=exits.get(p.pk, "unknown"),
            )
        )
    return rows


def trades_closed(*, limit: int, offset: int = 0, symbol: str | None = None) -> tuple[int, list[TradeRow]]:
    """(how many closed trades there are, one page of them, newest close first)."""
    qs = positions_closed(symbol=symbol)
    return qs.count(), trade_rows(list(qs[offset : offset + limit]))


# --- performance -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class PerformanceRow:
    key: str
    trades: int
    wins: int
    losses: int
    win_rate: Decimal | None  # percent
    pnl: Decimal
    average: Decimal | None  # PnL per trade
    fees: Decimal


def _chunks(qs: QuerySet[Position], size: int = 2000) -> Iterable[list[Position]]:
    chunk: list[Position] = []
    for position in qs.iterator(chunk_size=size):
        chunk.append(position)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def performance(*, by: str, since: datetime | None = None) -> list[PerformanceRow]:
    """Closed trades grouped by pair, entry rule (the decision's policy rule, or the order's origin) or exit
    reason (stop_loss, take_profit, operator, exchange_stop, signal…): best PnL first."""
    if by not in PERFORMANCE_KEYS:
        raise ReportInputError(f"by must be one of {', '.join(PERFORMANCE_KEYS)}")
    qs = positions_closed()
    if since is not None:
        qs = qs.filter(closed_at__gte=since)
    groups: dict[str, list[TradeRow]] = {}
    for chunk in _chunks(qs):
        for row in trade_rows(chunk):
            key = {"pair": row.symbol, "entry_rule": row.entry_rule, "exit_reason": row.exit_reason}[by]
            groups.setdefault(key, []).append(row)
    result = []
    for key, rows in groups.items():
        pnl = sum((r.realized_pnl for r in rows), Decimal(0))
        wins = sum(1 for r in rows if r.realized_pnl > 0)
        result.append(
            PerformanceRow(
                key=key,
                trades=len(rows),
                wins=wins,
                losses=len(rows) - wins,
                win_rate=(HUNDRED * wins / len(rows)).quantize(Decimal("0.01")),
                pnl=pnl,
                average=(pnl / len(rows)).quantize(Decimal("1e-8")),
                fees=sum((r.fees_quote for r in rows), Decimal(0)),
            )
        )
    return sorted(result, key=lambda r: (-r.pnl, r.key))
