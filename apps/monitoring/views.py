"""Liveness, readiness and /metrics (thin: the checks live in apps.monitoring.health)."""

from __future__ import annotations

import os

import prometheus_client
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.http import require_GET
from prometheus_client import multiprocess

from apps.monitoring import metrics, shared_state
from apps.monitoring.health import readiness


@require_GET
def health(request: HttpRequest) -> JsonResponse:
    """Liveness: the process answers. No I/O."""
    return JsonResponse({"status": "ok"})


@require_GET
def ready(request: HttpRequest) -> JsonResponse:
    report = readiness()
    return JsonResponse(report, status=503 if report["status"] == "down" else 200)


@require_GET
def metrics_view(request: HttpRequest) -> HttpResponse:
    """Prometheus text format. In multiprocess mode every process's file is read (gunicorn workers, Celery
    workers and beat alike), so counts from all of them add up; otherwise this process's registry."""
    metrics.sync_limiter_counters()
    shared_state.refresh()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = prometheus_client.CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = prometheus_client.REGISTRY
    return HttpResponse(prometheus_client.generate_latest(registry), content_type=prometheus_client.CONTENT_TYPE_LATEST)
