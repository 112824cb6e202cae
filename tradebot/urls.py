"""URL routes: the admin, the API, health and metrics."""

from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from apps.api.api import api

urlpatterns = [
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
    path("admin/", admin.site.urls),
    path("api/", api.urls),
    path("", include("apps.monitoring.urls")),
    path("", include("django_prometheus.urls")),
    path("telegram/", include("apps.telegram_bot.urls")),
]
