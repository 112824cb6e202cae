"""The operator's reports (apps.reports.selectors) and the streamed CSV export of trades, fills and orders."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from django.http import HttpRequest, StreamingHttpResponse
from ninja import Path, Query, Router, Schema

from apps.api.auth import read_auth
from apps.api.endpoints.common import READ_ERRORS, PageParams, broker
from apps.api.errors import ApiError
from apps.api.schemas import SYMBOL_PATTERN, ErrorOut, Page, dec
from apps.reports import exports, selectors

router = Router(tags=["reports"])
TZ_PATTERN = r"^[A-Za-z0-9_+\-/]{1,64}$"


class BalanceRowOut(Schema):
    currency: str
    free: str
    used: str
    total: str
    price: str | None
    quote_value: str | None


class BalancesOut(Schema):
    source: str
    quote: str
    total_quote: str
    unpriced: list[str]
    items: list[BalanceRowOut]


class PeriodOut(Schema):
    start: date
    starts_at: datetime
    realized_pnl: str
    trades: int
    wins: int


class PnlPeriodsOut(Schema):
    period: str
    time_zone: str
    items: list[PeriodOut]


class PerformanceRowOut(Schema):
    key: str
    trades: int
    wins: int
    losses: int
    win_rate: str | None
    pnl: str
    average: str | None
    fees: str


class PerformanceOut(Schema):
    by: str
    items: list[PerformanceRowOut]


class TradeOut(Schema):
    position_id: int
    symbol: str
    opened_at: datetime
    closed_at: datetime | None
    amount: str
    entry_price: str | None
    exit_price: str | None
    cost: str
    proceeds: str
    fees_quote: str
    realized_pnl: str
    entry_rule: str
    exit_reason: str


class TradePage(Page):
    items: list[TradeOut]


def _input(call, *args, **kwargs) -> Any:
    try:
        return call(*args, **kwargs)
    except selectors.ReportInputError as exc:
        raise ApiError(str(exc), status=422) from exc


@router.get(
    "/reports/balances",
    response={200: BalancesOut, **READ_ERRORS, 502: ErrorOut, 503: ErrorOut},
    auth=read_auth,
    summary="Balances per currency with their quote value",
)
def balances(request: HttpRequest, quote: str | None = Query(None, pattern=r"^[A-Za-z0-9]{1,16}$")):
    """The paper account's balances in paper, the exchange's in live (through the broker); 502 when the
    exchange cannot be read."""
    report = selectors.balances_report(broker=broker(), quote=quote)
    return {
        "source": report.source,
        "quote": report.quote,
        "total_quote": dec(report.total_quote),
        "unpriced": report.unpriced,
        "items": [
            {
                "currency": r.currency,
                "free": dec(r.free),
                "used": dec(r.used),
                "total": dec(r.total),
                "price": dec(r.price),
                "quote_value": dec(r.quote_value),
            }
            for r in report.rows
        ],
    }


@router.get(
    "/reports/pnl",
    response={200: PnlPeriodsOut, **READ_ERRORS},
    auth=read_auth,
    summary="Realized PnL per day, week or month",
)
def pnl_periods(
    request: HttpRequest,
    period: Literal["day", "week", "month"] = Query("day"),
    count: int = Query(7, ge=1, le=selectors.COUNT_MAX),
    tz: str = Query("UTC", pattern=TZ_PATTERN, description="IANA time zone, e.g. Europe/Berlin"),
):
    rows = _input(selectors.pnl_by_period, period=period, count=count, tz=tz)
    return {
        "period": period,
        "time_zone": tz,
        "items": [
            {
                "start": r.start,
                "starts_at": r.starts_at,
                "realized_pnl": dec(r.realized_pnl),
                "trades": r.trades,
                "wins": r.wins,
            }
            for r in rows
        ],
    }


@router.get(
    "/reports/performance",
    response={200: PerformanceOut, **READ_ERRORS},
    auth=read_auth,
    summary="Performance per pair, entry rule or exit reason",
)
def performance(request: HttpRequest, by: Literal["pair", "entry_rule", "exit_reason"] = Query("pair")):
    rows = selectors.performance(by=by)
    return {
        "by": by,
        "items": [
            {
                "key": r.key,
                "trades": r.trades,
                "wins": r.wins,
                "losses": r.losses,
                "win_rate": dec(r.win_rate),
                "pnl": dec(r.pnl),
                "average": dec(r.average),
                "fees": dec(r.fees),
            }
            for r in rows
        ],
    }


def trade_out(row: selectors.TradeRow) -> dict[str, Any]:
    out = {name: getattr(row, name) for name in TradeOut.model_fields}
    for name in ("amount", "entry_price", "exit_price", "cost", "proceeds", "fees_quote", "realized_pnl"):
        out[name] = dec(out[name])
    return out


@router.get("/reports/trades", response={200: TradePage, **READ_ERRORS}, auth=read_auth, summary="Closed trades")
def trades(
    request: HttpRequest,
    page: PageParams = Query(...),
    symbol: str | None = Query(None, pattern=SYMBOL_PATTERN),
):
    symbol = symbol.upper().replace("_", "/") if symbol else None
    count, rows = selectors.trades_closed(limit=page.limit, offset=page.offset, symbol=symbol)
    return {"count": count, "limit": page.limit, "offset": page.offset, "items": [trade_out(r) for r in rows]}


@router.get(
    "/exports/{kind}.csv",
    response=READ_ERRORS,
    auth=read_auth,
    summary="CSV export of trades, fills or orders (streamed)",
    openapi_extra={"responses": {200: {"description": "CSV", "content": {"text/csv": {"schema": {"type": "string"}}}}}},
)
def export_csv(
    request: HttpRequest,
    kind: Literal["trades", "fills", "orders"] = Path(...),
    symbol: str | None = Query(None, pattern=SYMBOL_PATTERN),
    since: datetime | None = Query(None),
    until: datetime | None = Query(None),
):
    """Oldest first; `since` / `until` bound the execution (fills), creation (orders) or close (trades) time.
    The rows are read in chunks and streamed, so an export of any size never sits in memory."""
    symbol = symbol.upper().replace("_", "/") if symbol else None
    filters = exports.Filters(symbol=symbol, since=since, until=until)
    lines = _input(exports.export_csv_lines, kind=kind, filters=filters)
    response = StreamingHttpResponse(lines, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="tradebot-{kind}.csv"'
    return response
