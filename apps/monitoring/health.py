"""Component checks behind /health/ready and the admin dashboard."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.db import connection


def _timed(check: Callable[[], tuple[str, str]]) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        status, detail = check()
    except Exception as exc:  # a failing component is reported, never raised
        status, detail = "down", f"{type(exc).__name__}: {exc}"
    return {"status": status, "detail": detail, "latency_ms": round((time.perf_counter() - started) * 1000, 2)}


def check_database() -> tuple[str, str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return "ok", connection.vendor


def check_broker() -> tuple[str, str]:
    if not settings.REDIS_URL:
        return "ok", "embedded filesystem transport"
    import redis

    client = redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=1, socket_timeout=1)
    client.ping()
    return "ok", "redis"


CHECKS: dict[str, Callable[[], tuple[str, str]]] = {
    "database": check_database,
    "broker": check_broker,
}
CRITICAL = {"database"}


def readiness() -> dict[str, Any]:
    components = {name: _timed(check) for name, check in CHECKS.items()}
    overall = "ok"
    for name, result in components.items():
        if result["status"] == "down" and name in CRITICAL:
            overall = "down"
        elif result["status"] != "ok" and overall == "ok":
            overall = "degraded"
    return {"status": overall, "components": components}
