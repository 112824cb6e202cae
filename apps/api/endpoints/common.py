"""Shared pieces of the endpoint modules: the declared error answers, pagination, the broker."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from ninja import Query, Schema
from pydantic import Field

from apps.api.schemas import ErrorOut
from apps.exchange import services as exchange_services

MAX_OFFSET = 1_000_000
ID_MAX = 2**63 - 1

READ_ERRORS: dict[int, Any] = {401: ErrorOut, 422: ErrorOut}
EXCHANGE_ERRORS: dict[int, Any] = {409: ErrorOut, 502: ErrorOut, 503: ErrorOut}
TRADE_ERRORS: dict[int, Any] = {
    400: ErrorOut,
    401: ErrorOut,
    403: ErrorOut,
    413: ErrorOut,  # a body over DATA_UPLOAD_MAX_MEMORY_SIZE
    422: ErrorOut,
    **EXCHANGE_ERRORS,
}


class PageParams(Schema):
    limit: int = Field(50, ge=1, le=500)
    offset: int = Field(0, ge=0, le=MAX_OFFSET)


def paginate(qs: QuerySet, params: PageParams, render) -> dict[str, Any]:
    count = qs.count()
    items = [render(obj) for obj in qs[params.offset : params.offset + params.limit]]
    return {"count": count, "limit": params.limit, "offset": params.offset, "items": items}


def broker() -> Any:
    """The configured broker (live, paper or simulator), from the exchange app."""
    return exchange_services.get_broker()


__all__ = ["ID_MAX", "READ_ERRORS", "TRADE_ERRORS", "PageParams", "Query", "broker", "paginate"]
