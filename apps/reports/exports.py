"""CSV export of trades, fills and orders, streamed: rows are read with `.iterator()` and written one at a
time, so an export of any size never sits in memory (the API and the admin both stream these lines)."""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from django.db.models import Model, QuerySet

from apps.reports.selectors import ReportInputError, _chunks, trade_rows
from apps.trading.models import Fill, Order, Position
from apps.trading.venues import current_venue

CHUNK = 2000
EARLIEST, LATEST = datetime(1970, 1, 1, tzinfo=UTC), datetime(2200, 1, 1, tzinfo=UTC)


class _Line:
    """A file-like object for csv.writer that hands back the line instead of storing it."""

    def write(self, value: str) -> str:
        return value


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return f"{value.normalize():f}" if value else "0"
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return ";".join(f"{k}={v}" for k, v in sorted(value.items()))
    return value


FILL_COLUMNS = (
    "id", "exchange", "exchange_trade_id", "order_id", "order__client_order_id", "symbol", "side", "price",
    "amount", "cost", "fee", "fee_currency", "is_maker", "executed_at",
)  # fmt: skip
ORDER_COLUMNS = (
    "id", "client_order_id", "exchange", "exchange_order_id", "symbol", "side", "type", "status", "origin",
    "amount", "quote_amount", "price", "filled", "average_price", "cost", "fee", "fee_currency", "fees",
    "position_id", "decision_id", "created_at", "submitted_at", "last_error",
)  # fmt: skip
TRADE_COLUMNS = (
    "position_id", "symbol", "opened_at", "closed_at", "amount", "entry_price", "exit_price", "cost", "proceeds",
    "fees_quote", "realized_pnl", "entry_rule", "exit_reason",
)  # fmt: skip


@dataclass(frozen=True)
class Filters:
    symbol: str | None = None
    since: datetime | None = None
    until: datetime | None = None


def _window(qs: QuerySet, field: str, filters: Filters) -> QuerySet:
    qs = qs.filter(venue=current_venue())  # the mode's books: paper and live never mix
    if filters.symbol:
        qs = qs.filter(symbol=filters.symbol)
    if filters.since is not None:
        qs = qs.filter(**{f"{field}__gte": filters.since})
    if filters.until is not None:
        qs = qs.filter(**{f"{field}__lt": filters.until})
    return qs


def _fills(qs: QuerySet[Fill]) -> Iterator[tuple]:
    return qs.order_by("executed_at", "id").values_list(*FILL_COLUMNS).iterator(chunk_size=CHUNK)


def _orders(qs: QuerySet[Order]) -> Iterator[tuple]:
    return qs.order_by("created_at", "id").values_list(*ORDER_COLUMNS).iterator(chunk_size=CHUNK)


def _trades(qs: QuerySet[Position]) -> Iterator[tuple]:
    qs = qs.filter(status=Position.Status.CLOSED).order_by("closed_at", "id")  # a trade is a closed position
    for chunk in _chunks(qs, CHUNK):
        for row in trade_rows(chunk):
            yield tuple(getattr(row, c) for c in TRADE_COLUMNS)


@dataclass(frozen=True)
class Export:
    columns: tuple[str, ...]
    model: type[Model]
    time_field: str  # what `since` / `until` bound
    rows: Callable[[QuerySet], Iterator[tuple]]


EXPORTS: dict[str, Export] = {
    "trades": Export(TRADE_COLUMNS, Position, "closed_at", _trades),
    "fills": Export(tuple(c.replace("order__", "order_") for c in FILL_COLUMNS), Fill, "executed_at", _fills),
    "orders": Export(ORDER_COLUMNS, Order, "created_at", _orders),
}


def _in_range(value: datetime) -> bool:
    try:
        return EARLIEST <= value.astimezone(UTC) < LATEST
    except (OverflowError, ValueError):  # year 1 at UTC+1 is before datetime.min in UTC
        return False


def export_csv_lines(*, kind: str, filters: Filters | None = None, queryset: QuerySet | None = None) -> Iterator[str]:
    """The header, then one CSV line per trade (closed position), fill or order, oldest first.

    Without `queryset`: the running mode's books, bounded by `filters` (the API). With it: exactly those rows
    (the admin's changelist with its filters, or the selected rows), whatever their venue; `filters` ignored."""
    if kind not in EXPORTS:
        raise ReportInputError(f"export must be one of {', '.join(EXPORTS)}")
    export = EXPORTS[kind]
    if queryset is None:
        filters = filters or Filters()
        for name in ("since", "until"):
            value = getattr(filters, name)
            if value is not None and not _in_range(value):
                raise ReportInputError(f"{name} must be between {EARLIEST:%Y} and {LATEST:%Y}")
        queryset = _window(export.model._default_manager.all(), export.time_field, filters)
    elif queryset.model is not export.model:
        raise ReportInputError(f"a {kind} export reads {export.model.__name__} rows, not {queryset.model.__name__}")
    writer = csv.writer(_Line())
    source = export.rows(queryset)
    # The first row is read now, so a database failure is an error answer, not a 200 cut short mid-stream.
    first = next(source, None)

    def lines() -> Iterator[str]:
        yield writer.writerow(export.columns)
        if first is None:
            return
        yield writer.writerow([_cell(v) for v in first])
        for row in source:
            yield writer.writerow([_cell(v) for v in row])

    return lines()
