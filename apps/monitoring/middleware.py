"""Request id in and out (X-Request-ID), on every log record of the request; API request metrics."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from apps.monitoring import metrics
from tradebot.logging_config import context_reset, context_set

HEADER = "X-Request-ID"
_VALID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


class RequestIdMiddleware:
    """Takes a well-formed X-Request-ID from the client or makes one; echoes it on the response."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.headers.get(HEADER, "")
        request_id = incoming if _VALID.match(incoming) else uuid.uuid4().hex
        request.request_id = request_id  # type: ignore[attr-defined]  # ours: HttpRequest declares no such field
        tokens = context_set(request_id=request_id)
        started = time.perf_counter()
        try:
            response = self.get_response(request)
        finally:
            context_reset(tokens)
        response[HEADER] = request_id
        if request.path.startswith("/api/"):
            _count_api(request, response, time.perf_counter() - started)
        return response


def _count_api(request: HttpRequest, response: HttpResponse, seconds: float) -> None:
    match = getattr(request, "resolver_match", None)
    endpoint = ("/api/" + match.route.removeprefix("api/")) if match and match.route else "unmatched"
    metrics.API_REQUESTS.labels(endpoint=endpoint, method=request.method, status=str(response.status_code)).inc()
    metrics.API_LATENCY.labels(endpoint=endpoint, method=request.method).observe(seconds)
