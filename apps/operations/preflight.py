"""Refuse to start when the database or Redis cannot be reached, naming the variable to fix.

Called by every process before it does anything: `manage.py check_services` (scripts/run, before migrate),
the gunicorn master (web), the Celery worker and beat (celery_app.py). Without it a wrong DATABASE_URL
starts a web that answers 500 and a worker that retries forever.
"""

from __future__ import annotations

import re
import sys

import redis
from django.conf import settings
from django.db import connections

CONNECT_TIMEOUT_SEC = 5


class ServiceUnreachable(Exception):
    def __init__(self, variable: str, url: str, reason: str) -> None:
        self.variable = variable
        self.url = redact(url)
        self.reason = reason
        super().__init__(f"{variable}={self.url!r} cannot be reached: {reason}")


def redact(url: str) -> str:
    """The URL without its password: `postgres://user:***@host/db`."""
    return re.sub(r"(://[^:/@]*):[^@]*@", r"\1:***@", url)


def _reason(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text[:300]}" if text else type(exc).__name__


def check_database() -> None:
    connection = connections["default"]
    try:
        connection.ensure_connection()
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception as exc:
        raise ServiceUnreachable("DATABASE_URL", settings.DATABASE_URL, _reason(exc)) from exc
    finally:
        connection.close()


def check_redis() -> None:
    if not settings.REDIS_URL:
        return

    client = redis.Redis.from_url(
        settings.REDIS_URL, socket_connect_timeout=CONNECT_TIMEOUT_SEC, socket_timeout=CONNECT_TIMEOUT_SEC
    )
    try:
        client.ping()
    except Exception as exc:
        raise ServiceUnreachable("REDIS_URL", settings.REDIS_URL, _reason(exc)) from exc
    finally:
        client.close()


def unreachable() -> list[ServiceUnreachable]:
    """Every service that cannot be reached now (empty when all answer)."""
    problems = []
    for check in (check_database, check_redis):
        try:
            check()
        except ServiceUnreachable as exc:
            problems.append(exc)
    return problems


def require_services(process: str) -> None:
    """Exit with code 2 and a message naming the variable when a service cannot be reached."""
    problems = unreachable()
    if not problems:
        return
    for problem in problems:
        sys.stderr.write(f"Configuration error: {problem} ({process} not started)\n")
    sys.stderr.flush()
    raise SystemExit(2)
