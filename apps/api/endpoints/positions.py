"""Positions (and closing one), protective exits, PnL."""

from __future__ import annotations

import logging
from typing import Any, Literal

from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from ninja import Path, Query, Router

from apps.api.auth import actor_of, read_auth, trade_auth
from apps.api.endpoints.common import ID_MAX, READ_ERRORS, TRADE_ERRORS, PageParams, broker, paginate
from apps.api.endpoints.orders import order_out
from apps.api.errors import ApiError, Conflict
from apps.api.schemas import SYMBOL_PATTERN, VENUES, ErrorOut, ExitPage, OrderOut, PnlOut, PositionPage, dec
from apps.exits import services as exit_services
from apps.exits.models import ProtectiveExit
from apps.trading.models import Order, Position
from apps.trading.selectors import pnl_summary, positions_open
from apps.trading.venues import current_venue

log = logging.getLogger(__name__)
router = Router(tags=["positions"])


def _symbol(value: str | None) -> str | None:
    return value.upper().replace("_", "/") if value else None


def position_out(position: Position) -> dict[str, Any]:
    return {
        "id": position.pk,
        "venue": position.venue,
        "symbol": position.symbol,
        "status": position.status,
        "amount": dec(position.amount),
        "average_entry_price": dec(position.average_entry_price),
        "cost_basis": dec(position.cost_basis),
        "realized_pnl": dec(position.realized_pnl),
        "fees_quote": dec(position.fees_quote),
        "opened_at": position.opened_at,
        "closed_at": position.closed_at,
    }


def exit_out(item: ProtectiveExit) -> dict[str, Any]:
    return {
        "id": item.pk,
        "position_id": item.position_id,
        "symbol": item.symbol,
        "status": item.status,
        "entry_price": dec(item.entry_price),
        "stop_loss_price": dec(item.stop_loss_price),
        "take_profit_price": dec(item.take_profit_price),
        "trigger_reason": item.trigger_reason,
        "trigger_price": dec(item.trigger_price),
        "exit_order_id": item.exit_order_id,
        "exchange_stop_order_id": item.exchange_stop_order_id,
        "attempts": item.attempts,
        "last_error": item.last_error,
        "armed_at": item.armed_at,
        "triggered_at": item.triggered_at,
        "filled_at": item.filled_at,
    }


@router.get("/positions", response={200: PositionPage, **READ_ERRORS}, auth=read_auth, summary="List positions")
def positions_list(
    request: HttpRequest,
    page: PageParams = Query(...),
    symbol: str | None = Query(None, pattern=SYMBOL_PATTERN),
    status: Literal["open", "closed"] | None = Query(None),
    venue: VENUES | None = Query(None, description="paper or live; every venue when absent"),
):
    qs = Position.objects.order_by("-opened_at", "-id")
    if venue:
        qs = qs.filter(venue=venue)
    if symbol:
        qs = qs.filter(symbol=_symbol(symbol))
    if status:
        qs = qs.filter(status=status)
    return paginate(qs, page, position_out)


@router.post(
    "/positions/{position_id}/close",
    response={200: OrderOut, 404: ErrorOut, **TRADE_ERRORS},
    auth=trade_auth,
    summary="Close a position now with a market exit order",
)
def position_close(request: HttpRequest, position_id: int = Path(..., ge=1, le=ID_MAX)):
    position = get_object_or_404(Position, pk=position_id)
    if position.status != Position.Status.OPEN:
        raise Conflict(f"position {position.pk} is {position.status}")
    order = exit_services.position_close(position=position, broker=broker(), actor=actor_of(request))
    if not isinstance(order, Order):
        raise ApiError("the close produced no order", status=409)
    return order_out(order)


@router.get("/exits", response={200: ExitPage, **READ_ERRORS}, auth=read_auth, summary="Protective exits")
def exits_list(
    request: HttpRequest,
    page: PageParams = Query(...),
    symbol: str | None = Query(None, pattern=SYMBOL_PATTERN),
    status: Literal["armed", "triggered", "filled", "cancelled", "failed"] | None = Query(None),
    venue: VENUES | None = Query(None, description="paper or live (the position's books); every venue when absent"),
):
    qs = ProtectiveExit.objects.order_by("-armed_at", "-id")
    if venue:
        qs = qs.filter(position__venue=venue)
    if symbol:
        qs = qs.filter(symbol=_symbol(symbol))
    if status:
        qs = qs.filter(status=status)
    return paginate(qs, page, exit_out)


def _prices(symbols: list[str]) -> dict | None:
    """Last prices for the open positions' symbols; None when the exchange cannot be asked now."""
    if not symbols:
        return {}
    try:
        tickers = broker().fetch_tickers(symbols)
    except Exception as exc:  # PnL is still useful without unrealized: say so rather than fail
        log.info("pnl without prices: %s", exc)
        return None
    return {symbol: ticker.last for symbol, ticker in tickers.items()}


@router.get("/pnl", response={200: PnlOut, **READ_ERRORS}, auth=read_auth, summary="Realized / unrealized PnL")
def pnl(
    request: HttpRequest,
    symbol: str | None = Query(None, pattern=SYMBOL_PATTERN),
    venue: VENUES | None = Query(None, description="paper or live; the running mode's books when absent"),
):

    symbol = _symbol(symbol)
    prices = _prices(sorted(set(positions_open(symbol, venue=venue).values_list("symbol", flat=True))))
    summary = pnl_summary(symbol=symbol, prices=prices or {}, venue=venue)

    return {
        "venue": venue or current_venue(),
        "symbol": summary.symbol,
        "realized_pnl": dec(summary.realized_pnl),
        "unrealized_pnl": dec(summary.unrealized_pnl),
        "unrealized_priced": prices is not None,
        "fees": dec(summary.fees),
        "closed_positions": summary.closed_positions,
        "open_positions": summary.open_positions,
        "wins": summary.wins,
        "losses": summary.losses,
        "win_rate": dec(summary.win_rate),
        "profit_factor": dec(summary.profit_factor),
        "average_win": dec(summary.average_win),
        "average_loss": dec(summary.average_loss),
        "best": dec(summary.best),
        "worst": dec(summary.worst),
        "max_drawdown": dec(summary.max_drawdown),
        "equity_curve": [{"time": when, "equity": dec(value)} for when, value in summary.equity_curve],
    }
