"""Every error the API answers is JSON `{"detail": …}`; nothing a client sends can produce a 500."""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist, RequestDataTooBig
from django.http import Http404, HttpRequest, HttpResponse
from ninja import NinjaAPI
from ninja.errors import HttpError, ValidationError

from apps.backtest.services import BacktestInputError
from apps.common.redact import redact_text
from apps.exchange import broker as b
from apps.exchange.broker import ExchangeError
from apps.monitoring import metrics
from apps.signals.build import FeatureInputError
from apps.signals.services import SignalInputError
from apps.trading.services import OrderInputError
from apps.trading.state import IllegalTransition
from apps.trading.venues import WrongVenue
from tradebot.logging_config import context_get

log = logging.getLogger(__name__)


class ApiError(Exception):
    """An answer other than success, raised by an endpoint: status, detail and the field at fault."""

    status = 400

    def __init__(self, detail: str, *, field: str | None = None, status: int | None = None, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.field = field
        self.extra = extra  # more members of the JSON answer (e.g. the risk rule that refused)
        if status is not None:
            self.status = status


class Conflict(ApiError):
    status = 409


class Unavailable(ApiError):
    status = 503


def _json(api: NinjaAPI, request: HttpRequest, status: int, detail: str, **extra: Any) -> HttpResponse:
    body = {"detail": redact_text(detail), **{k: v for k, v in extra.items() if v is not None}}
    return api.create_response(request, body, status=status)


def _loc_field(loc: Any) -> str:
    parts = [str(p) for p in (loc or []) if p not in ("body", "query", "path", "payload")]
    return ".".join(parts) or "request"


def install(api: NinjaAPI) -> None:
    """Register the handlers; the most specific class wins (ninja looks handlers up along the MRO)."""

    def validation(request: HttpRequest, exc: ValidationError) -> HttpResponse:
        errors = [
            {"loc": [str(p) for p in e.get("loc", [])], "msg": str(e.get("msg", "")), "type": str(e.get("type", ""))}
            for e in exc.errors
        ]
        first = _loc_field(exc.errors[0].get("loc")) if exc.errors else "request"
        text = "; ".join(f"{_loc_field(e['loc'])}: {e['msg']}" for e in errors) or "invalid request"
        return _json(api, request, 422, text, field=first, errors=errors)

    def api_error(request: HttpRequest, exc: ApiError) -> HttpResponse:
        return _json(api, request, exc.status, exc.detail, field=exc.field, **exc.extra)

    def input_error(request: HttpRequest, exc: Exception) -> HttpResponse:
        field = getattr(exc, "field", None) or "request"
        return _json(api, request, 422, str(exc), field=field)

    def feature_error(request: HttpRequest, exc: Exception) -> HttpResponse:
        return _json(api, request, 422, f"cannot evaluate: {exc}", field="symbol")

    def not_found(request: HttpRequest, exc: Exception) -> HttpResponse:
        return _json(api, request, 404, "not found")

    def http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
        return _json(api, request, exc.status_code, str(exc))

    def conflict(request: HttpRequest, exc: Exception) -> HttpResponse:
        return _json(api, request, 409, str(exc))

    def exchange_error(request: HttpRequest, exc: Exception) -> HttpResponse:
        if isinstance(exc, b.CircuitOpen):
            return _json(api, request, 503, f"exchange circuit open: {exc}")
        if isinstance(exc, b.OutcomeUnknown):
            return _json(api, request, 502, f"exchange outcome unknown, reconciliation will settle it: {exc}")
        if isinstance(exc, b.AuthenticationError):
            return _json(api, request, 502, "the exchange refused our credentials")
        if isinstance(exc, b.OrderNotFound):
            return _json(api, request, 409, f"the exchange does not know this order: {exc}")
        if isinstance(exc, b.BusinessError):
            return _json(api, request, 422, f"the exchange refused: {exc}", field=getattr(exc, "label", "") or None)
        return _json(api, request, 502, f"exchange unavailable: {type(exc).__name__}")

    def server_error(request: HttpRequest, exc: Exception) -> HttpResponse:
        log.exception("unhandled API error on %s %s", request.method, request.path)
        return _json(api, request, 500, "internal error", request_id=context_get("request_id"))

    def too_large(request: HttpRequest, exc: RequestDataTooBig) -> HttpResponse:
        metrics.REQUESTS_REFUSED.labels(reason="too_large").inc()
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        return _json(api, request, 413, f"request body too large: at most {limit} bytes")

    # exception_handler(cls)(handler) registers like add_exception_handler, whose typing wants a handler that
    # also accepts the exception class itself.
    api.exception_handler(Exception)(server_error)
    api.exception_handler(RequestDataTooBig)(too_large)
    api.exception_handler(ValidationError)(validation)
    api.exception_handler(ApiError)(api_error)
    api.exception_handler(Http404)(not_found)
    api.exception_handler(ObjectDoesNotExist)(not_found)
    api.exception_handler(HttpError)(http_error)
    for error, handler in (
        (OrderInputError, input_error),
        (SignalInputError, input_error),
        (BacktestInputError, input_error),
        (FeatureInputError, feature_error),
        (IllegalTransition, conflict),
        (WrongVenue, conflict),
        (ExchangeError, exchange_error),
    ):
        api.exception_handler(error)(handler)
