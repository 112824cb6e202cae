"""The operator's display time zone (DISPLAY_TIMEZONE) for the console's pages; the API stays in UTC."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from django.conf import settings
from django.utils import timezone


class DisplayTimezoneMiddleware:
    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request):
        if request.path.startswith("/admin/"):
            timezone.activate(ZoneInfo(settings.DISPLAY_TIMEZONE))
            try:
                return self.get_response(request)
            finally:
                timezone.deactivate()
        return self.get_response(request)
