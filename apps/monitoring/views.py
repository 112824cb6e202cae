"""Liveness and readiness endpoints (thin: the checks live in apps.monitoring.health)."""

from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET

from apps.monitoring.health import readiness


@require_GET
def health(request: HttpRequest) -> JsonResponse:
    """Liveness: the process answers. No I/O."""
    return JsonResponse({"status": "ok"})


@require_GET
def ready(request: HttpRequest) -> JsonResponse:
    report = readiness()
    return JsonResponse(report, status=503 if report["status"] == "down" else 200)
