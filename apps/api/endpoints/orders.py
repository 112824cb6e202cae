"""Orders: list, detail, place (create + submit), cancel."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from django.utils import timezone
from ninja import Path, Query, Router, Status

from apps.api.auth import actor_of, read_auth, trade_auth
from apps.api.endpoints.common import ID_MAX, READ_ERRORS, TRADE_ERRORS, PageParams, broker, paginate
from apps.api.errors import Conflict, Unavailable
from apps.api.schemas import (
    ORDER_STATUSES,
    SYMBOL_PATTERN,
    VENUES,
    ErrorOut,
    OrderIn,
    OrderOut,
    OrderPage,
    dec,
    links_from_id,
)
from apps.trading import submission
from apps.trading.bounds import order_bounds_check
from apps.trading.models import Order
from apps.trading.placing import ClientIdConflict, NotSent, RiskRefused, place_requested_order
from tradebot.logging_config import log_context

router = Router(tags=["orders"])


def order_out(order: Order) -> dict[str, Any]:
    return {
        "id": order.pk,
        "venue": order.venue,
        "client_order_id": order.client_order_id,
        "exchange_order_id": order.exchange_order_id,
        "symbol": order.symbol,
        "side": order.side,
        "type": order.type,
        "status": order.status,
        "amount": dec(order.amount),
        "quote_amount": dec(order.quote_amount),
        "price": dec(order.price),
        "filled": dec(order.filled),
        "average_price": dec(order.average_price),
        "cost": dec(order.cost),
        "fee": dec(order.fee),
        "fee_currency": order.fee_currency,
        "fees": {str(k): str(v) for k, v in (order.fees or {}).items()},
        "origin": order.origin,
        "decision_id": order.decision_id,
        "position_id": order.position_id,
        "last_error": order.last_error,
        "created_at": order.created_at,
        "submitted_at": order.submitted_at,
        "updated_at": order.updated_at,
    }


def _unified(symbol: str) -> str:
    return symbol.upper().replace("_", "/")


def _symbol(value: str | None) -> str | None:
    return _unified(value) if value else None


@router.get("/orders", response={200: OrderPage, **READ_ERRORS}, auth=read_auth, summary="List orders, newest first")
def orders_list(
    request: HttpRequest,
    page: PageParams = Query(...),
    symbol: str | None = Query(None, pattern=SYMBOL_PATTERN),
    status: ORDER_STATUSES | None = Query(None),
    venue: VENUES | None = Query(None, description="paper or live; every venue when absent"),
):
    qs = Order.objects.order_by("-created_at", "-id")
    if venue:
        qs = qs.filter(venue=venue)
    if symbol:
        qs = qs.filter(symbol=_symbol(symbol))
    if status:
        qs = qs.filter(status=status)
    return paginate(qs, page, order_out)


@router.get("/orders/{order_id}", response={200: OrderOut, 404: ErrorOut, **READ_ERRORS}, auth=read_auth)
def order_detail(request: HttpRequest, order_id: int = Path(..., ge=1, le=ID_MAX)):
    return order_out(get_object_or_404(Order, pk=order_id))


@router.post(
    "/orders",
    response={200: OrderOut, 201: OrderOut, 202: OrderOut, **TRADE_ERRORS},
    auth=trade_auth,
    openapi_extra=links_from_id(
        (200, 201, 202),
        GetOrder=("apps_api_endpoints_orders_order_detail", "order_id", "/id"),
        CancelOrder=("apps_api_endpoints_orders_order_cancel", "order_id", "/id"),
        ClosePosition=("apps_api_endpoints_positions_position_close", "position_id", "/position_id"),
    ),
    summary="Place an order (risk-checked, create and submit); safe to retry with the same client_order_id",
    description="201: a new order. 200: an order with this client_order_id already exists (a retry): that "
    "order. 202: the outcome is not known yet (status `unknown` or `submitted`); reconciliation settles it. "
    "409: a risk rule or the kill switch refused it (`rule` names it), or the client_order_id belongs to a "
    "different request. 503: nothing was sent (the database was unavailable); retrying is safe.",
)
def order_place(request: HttpRequest, payload: OrderIn):
    the_broker = broker()
    _bounds(payload, the_broker)
    with log_context(client_order_id=payload.client_order_id or ""):
        try:
            placed = place_requested_order(
                symbol=_unified(payload.symbol),
                side=payload.side,
                type=payload.type,
                amount=payload.amount,
                quote_amount=payload.quote_amount,
                price=payload.price,
                client_order_id=payload.client_order_id,
                broker=the_broker,
                actor=actor_of(request),
                now=timezone.now(),
            )
        except RiskRefused as exc:
            verdict = exc.verdict
            detail = f"refused by risk rule {verdict.rule}: {verdict.message}"
            if verdict.rule == "trading_gate":
                detail = f"trading is off (risk rule trading_gate): {verdict.message}"
            raise Conflict(detail, rule=verdict.rule, risk_event_id=verdict.event_id) from exc
        except ClientIdConflict as exc:
            raise Conflict(str(exc), field="client_order_id") from exc
        except NotSent as exc:
            raise Unavailable(str(exc)) from exc
    code = {"existing": 200, "pending": 202}.get(placed.outcome, 201)
    return Status(code, order_out(placed.order))


def _bounds(payload: OrderIn, the_broker: Any) -> None:
    """422 for figures beyond what the books or the market hold, before anything is written or sent."""
    symbol = _unified(payload.symbol)
    market = the_broker.market(symbol)
    reference = None
    if payload.type == "market" and payload.amount is not None:
        reference = the_broker.fetch_ticker(symbol).last
    order_bounds_check(
        type=payload.type,
        amount=Decimal(payload.amount) if payload.amount else None,
        quote_amount=Decimal(payload.quote_amount) if payload.quote_amount else None,
        price=Decimal(payload.price) if payload.price else None,
        market=market,
        reference_price=reference,
    )


@router.post("/orders/{order_id}/cancel", response={200: OrderOut, 404: ErrorOut, **TRADE_ERRORS}, auth=trade_auth)
def order_cancel(request: HttpRequest, order_id: int = Path(..., ge=1, le=ID_MAX)):
    order = get_object_or_404(Order, pk=order_id)
    if order.is_terminal:
        raise Conflict(f"order {order.pk} is already {order.status}")
    with log_context(client_order_id=order.client_order_id):
        result = submission.order_cancel(order=order, broker=broker(), actor=actor_of(request))
    return order_out(result if isinstance(result, Order) else Order.objects.get(pk=order.pk))
