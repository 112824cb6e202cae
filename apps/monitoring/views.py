"""Liveness, readiness and /metrics (thin: the checks live in apps.monitoring.health)."""

from __future__ import annotations

import hmac
import os
from collections.abc import Callable

import prometheus_client
from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.http import require_GET
from prometheus_client import multiprocess

from apps.exchange import limiter
from apps.monitoring import shared_state
from apps.monitoring.health import readiness


@require_GET
def health(request: HttpRequest) -> JsonResponse:
    """Liveness: the process answers. No I/O."""
    return JsonResponse({"status": "ok"})


def _bearer(request: HttpRequest) -> str:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def _nobody(request: HttpRequest) -> bool:
    return False


# Who may see the readiness components: the API app registers its token check here at start-up
# (apps.api.apps; monitoring does not import the API). Until then, nobody.
details_allowed: Callable[[HttpRequest], bool] = _nobody


def allow_details(check: Callable[[HttpRequest], bool]) -> None:
    """Register the check deciding who sees /health/ready's components (a valid API token)."""
    global details_allowed
    details_allowed = check


@require_GET
def ready(request: HttpRequest) -> JsonResponse:
    """Readiness. Anonymous callers get the status alone (and the same HTTP status); the components, with
    their details (hosts, prices, errors), need a valid API token."""
    report = readiness()
    status = 503 if report["status"] == "down" else 200
    if not details_allowed(request):
        return JsonResponse({"status": report["status"]}, status=status)
    return JsonResponse(report, status=status)


@require_GET
def metrics_view(request: HttpRequest) -> HttpResponse:
    """Prometheus text format. In multiprocess mode every process's file is read (gunicorn workers, Celery
    workers and beat alike), so counts from all of them add up; otherwise this process's registry.
    With METRICS_TOKEN set, only `Authorization: Bearer <METRICS_TOKEN>` is answered (else 401)."""
    expected = settings.METRICS_TOKEN
    if expected and not hmac.compare_digest(_bearer(request).encode(), expected.encode()):
        response = HttpResponse("unauthorized: Authorization: Bearer <METRICS_TOKEN> is required\n", status=401)
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        response["Content-Type"] = "text/plain; charset=utf-8"
        return response
    limiter.sync_limiter_counters()
    shared_state.refresh()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = prometheus_client.CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = prometheus_client.REGISTRY
    return HttpResponse(prometheus_client.generate_latest(registry), content_type=prometheus_client.CONTENT_TYPE_LATEST)
