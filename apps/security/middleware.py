"""Edge checks on every request: an oversized body is a 413 JSON answer before any view reads it, and an
admin session ends ADMIN_SESSION_HOURS after its login however active it stays."""

from __future__ import annotations

import time
from collections.abc import Callable

from django.conf import settings
from django.contrib.auth import logout
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, JsonResponse

from apps.monitoring import metrics

LOGIN_AT_KEY = "security_login_at"


def too_large(limit: int | None = None) -> JsonResponse:
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE if limit is None else limit
    metrics.REQUESTS_REFUSED.labels(reason="too_large").inc()
    return JsonResponse({"detail": f"request body too large: at most {limit} bytes"}, status=413)


class BodySizeLimitMiddleware:
    """A declared Content-Length over DATA_UPLOAD_MAX_MEMORY_SIZE (Django's 2.5 MB) is refused with 413
    before the body is read; RequestDataTooBig raised later by a view (Django's own check) also becomes 413."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if limit is not None and length > limit:
            return too_large(limit)
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if isinstance(exception, RequestDataTooBig):
            return too_large()
        return None


class SessionLifetimeMiddleware:
    """Logs a session out ADMIN_SESSION_HOURS after it logged in (SESSION_COOKIE_AGE alone restarts with
    every change to the session)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            started = request.session.get(LOGIN_AT_KEY)
            now = time.time()
            if not isinstance(started, (int, float)):
                request.session[LOGIN_AT_KEY] = now
            elif now - started > settings.ADMIN_SESSION_HOURS * 3600:
                logout(request)
        return self.get_response(request)


def remember_login(sender, request: HttpRequest, user, **kwargs) -> None:
    """user_logged_in: the session's clock starts now."""
    if request is not None and hasattr(request, "session"):
        request.session[LOGIN_AT_KEY] = time.time()
